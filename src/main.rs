//! The butcher command: parse the arguments, run, print `butcher: error` on failure, exit with
//! the code that says how it went.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
