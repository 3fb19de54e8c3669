use clap::Parser;

tributary_service::use_jemalloc!();

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = tributary_operator::cli::Args::parse();
    match tributary_operator::cli::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
