//! Library side of xtask: the network-namespace lab, usable from tests.
