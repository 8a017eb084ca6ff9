use clap::Parser;
use sesame::cli::{self, Cli};
use sesame::config::Config;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sesame: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    sesame::telemetry::init(&config.log, config.log_format);
    match cli::run(cli, config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sesame: {e:#}");
            // `user import` finished but rejected some lines: a status of its own.
            if e.downcast_ref::<sesame::import::LinesRejected>().is_some() {
                return std::process::ExitCode::from(sesame::import::LinesRejected::CODE);
            }
            std::process::ExitCode::FAILURE
        }
    }
}
