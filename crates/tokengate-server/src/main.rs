//! `tokengate`: the tokengate service and its command-line tools (the code
//! is in the crate's library, `tokengate_server`).

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tokengate_server::run()
}
