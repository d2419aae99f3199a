fn main() -> std::process::ExitCode {
    msbd::main()
}
