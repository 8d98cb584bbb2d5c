//! Wire formats of the reverse-traceroute protocol (PROTOCOL.md §2–§8).
#![no_std]
