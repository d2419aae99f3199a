fn main() -> std::process::ExitCode {
    msbctl::main()
}
