fn main() {
    eprintln!("xdbt: not built yet");
    std::process::exit(2);
}
