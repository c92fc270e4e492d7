//! The `snapdiff` command: parse the command line and hand over to [`cli`].

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
