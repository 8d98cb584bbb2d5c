//! Stamps the version with the commit (`reverse-tr --version`).
#[path = "../build-support/version.rs"]
mod version;

fn main() {
    version::emit();
}
