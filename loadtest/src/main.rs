//! `spillway-loadtest`: parse the command line, run, write the reports.

use std::process::ExitCode;

use clap::Parser;
use spillway_loadtest::Args;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let result = async {
        let run = spillway_loadtest::run(&args).await?;
        spillway_loadtest::write_reports(&args, &run)?;
        Ok::<_, spillway_loadtest::Error>(run)
    }
    .await;
    match result {
        Ok(run) => {
            print!("{}", run.markdown());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("spillway-loadtest: {e}");
            ExitCode::FAILURE
        }
    }
}
