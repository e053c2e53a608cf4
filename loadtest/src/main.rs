//! `spillway-loadtest`: parse the command line, run, write the reports.

use std::process::ExitCode;

use clap::Parser;
use spillway_loadtest::{Args, Error, fanout, handshake, idle, ramp, relay};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let result = async {
        if args.idle_connections.is_some() {
            let run = idle::run(&args).await?;
            idle::write_reports(&args, &run)?;
            Ok::<_, Error>(run.markdown())
        } else if !args.ramp.is_empty() {
            let run = ramp::run(&args).await?;
            ramp::write_reports(&args, &run)?;
            Ok(run.markdown())
        } else if args.handshakes.is_some() {
            let run = handshake::run(&args).await?;
            handshake::write_reports(&args, &run)?;
            Ok(run.markdown())
        } else if args.subscribers.is_some() {
            let run = fanout::run(&args).await?;
            fanout::write_reports(&args, &run)?;
            Ok(run.markdown())
        } else if args.relay_via.is_some() {
            let run = relay::run(&args).await?;
            relay::write_reports(&args, &run)?;
            Ok(run.markdown())
        } else {
            let run = spillway_loadtest::run(&args).await?;
            spillway_loadtest::write_reports(&args, &run)?;
            Ok(run.markdown())
        }
    }
    .await;
    match result {
        Ok(markdown) => {
            print!("{markdown}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("spillway-loadtest: {e}");
            ExitCode::FAILURE
        }
    }
}
