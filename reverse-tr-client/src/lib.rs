//! reverse-tr client library.
