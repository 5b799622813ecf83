fn main() {
    faro_frontend::start();
}
