//! `tributary-bench instructions`: instructions per event of the hot stages, counted by
//! callgrind (issue 17). Wall time on this machine moves by a third with whatever else runs;
//! an instruction count of the same binary on the same inputs does not, so this is the measure
//! a CI check can hold (`scripts/instructions.sh`, run by `.ci/run`).
//!
//! Each (family, stage) runs in a child `tributary-bench cpu --calls N` under
//! `valgrind --tool=callgrind --toggle-collect=*measured_calls*`: only the measured calls are
//! counted (not start-up, input generation or warm-up, which runs the same calls once first).
//! Instructions per event = the `totals:` line of the callgrind output / the events those calls
//! handled (the child's JSON). The counts are compared with `bench/instructions.json`: a stage
//! more than `--tolerance` (10%) over its baseline fails the run; `--update` writes the new
//! baseline after a deliberate change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::cpu::CpuSummary;

#[derive(clap::Args, Debug)]
pub struct InstructionsArgs {
    /// The committed counts to hold the run to.
    #[arg(long, default_value = "bench/instructions.json")]
    pub baseline: PathBuf,
    /// Write this run's counts as the baseline instead of checking them.
    #[arg(long)]
    pub update: bool,
    /// Allowed rise over the baseline (0.10 = 10%).
    #[arg(long, default_value_t = 0.10)]
    pub tolerance: f64,
    /// Measured calls per stage (each call handles one of 32 generated requests in turn, so a
    /// multiple of 32 covers them evenly).
    #[arg(long, default_value_t = 32)]
    pub calls: usize,
    /// Events per request for mobile and activity (as `cpu --batch-size`).
    #[arg(long, default_value_t = 100)]
    pub batch_size: usize,
    /// `family:stage` pairs to count.
    #[arg(
        long,
        default_value = "mobile:gateway.accept,mobile:enricher.process,mobile:sink.decode,mobile:sink.encode,\
                         crm:gateway.accept,crm:enricher.process,crm:sink.decode,\
                         s2s:gateway.accept,s2s:enricher.process,s2s:sink.decode,\
                         activity:gateway.accept,activity:enricher.process,activity:sink.decode"
    )]
    pub stages: String,
}

/// `bench/instructions.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Baseline {
    /// How the counts were taken; a check with other settings is refused.
    calls: usize,
    batch_size: usize,
    /// `"family stage"` → instructions per event.
    instructions_per_event: BTreeMap<String, f64>,
}

/// Instructions in the callgrind output's `totals:` line.
fn totals(callgrind_out: &Path) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(callgrind_out)
        .with_context(|| format!("reading {}", callgrind_out.display()))?;
    text.lines()
        .find_map(|line| line.strip_prefix("totals:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no totals line in {}", callgrind_out.display()))
}

/// Count one stage in a child under callgrind: instructions per event.
fn count(args: &InstructionsArgs, family: &str, stage: &str, dir: &Path) -> anyhow::Result<f64> {
    let out = dir.join(format!("{family}.{stage}.callgrind"));
    let json = dir.join(format!("{family}.{stage}.json"));
    let exe = std::env::current_exe()?;
    let status = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--toggle-collect=*measured_calls*",
            "--quiet",
        ])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&exe)
        .args(["cpu", "--families", family, "--stages", stage])
        .args(["--calls", &args.calls.to_string()])
        .args(["--batch-size", &args.batch_size.to_string()])
        .arg("--json")
        .arg(&json)
        .status()
        .context(
            "running valgrind (Debian's valgrind package; scripts/instructions.sh installs it)",
        )?;
    if !status.success() {
        bail!("{family} {stage} under callgrind: {status}");
    }
    let summary: CpuSummary = serde_json::from_slice(&std::fs::read(&json)?)?;
    let events = summary
        .stages
        .iter()
        .find(|s| s.stage == stage)
        .map(|s| s.events)
        .filter(|&e| e > 0)
        .with_context(|| format!("{family} {stage}: the child measured no events"))?;
    Ok(totals(&out)? as f64 / events as f64)
}

pub fn run(args: InstructionsArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("tributary-instructions-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut counted = BTreeMap::new();
    for pair in args.stages.split(',') {
        let (family, stage) = pair
            .trim()
            .split_once(':')
            .with_context(|| format!("{pair:?} is not family:stage"))?;
        let per_event = count(&args, family, stage, &dir)?;
        eprintln!("{family:<9} {stage:<18} {per_event:>12.0} instructions/event");
        counted.insert(format!("{family} {stage}"), per_event);
    }
    let _ = std::fs::remove_dir_all(&dir);

    if args.update {
        let baseline = Baseline {
            calls: args.calls,
            batch_size: args.batch_size,
            instructions_per_event: counted,
        };
        std::fs::write(
            &args.baseline,
            serde_json::to_string_pretty(&baseline)? + "\n",
        )?;
        println!("baseline written to {}", args.baseline.display());
        return Ok(());
    }

    let baseline: Baseline = serde_json::from_slice(
        &std::fs::read(&args.baseline)
            .with_context(|| format!("reading the baseline {}", args.baseline.display()))?,
    )?;
    if (baseline.calls, baseline.batch_size) != (args.calls, args.batch_size) {
        bail!(
            "the baseline was counted with --calls {} --batch-size {}; count with the same",
            baseline.calls,
            baseline.batch_size
        );
    }
    let limit = 1.0 + args.tolerance;
    let mut over = Vec::new();
    println!(
        "{:<28} {:>14} {:>14} {:>7}  verdict (limit {limit:.2}x)",
        "stage", "instr/event", "baseline", "ratio"
    );
    for (stage, per_event) in &counted {
        let Some(&base) = baseline.instructions_per_event.get(stage) else {
            over.push(format!("{stage}: not in the baseline"));
            println!(
                "{stage:<28} {per_event:>14.0} {:>14} {:>7}  missing",
                "-", "-"
            );
            continue;
        };
        let ratio = per_event / base;
        let verdict = if ratio > limit {
            over.push(format!("{stage}: {ratio:.3}x its baseline"));
            "OVER"
        } else if ratio < 1.0 / limit {
            "ok (lower: --update to lock it in)"
        } else {
            "ok"
        };
        println!("{stage:<28} {per_event:>14.0} {base:>14.0} {ratio:>7.3}  {verdict}");
    }
    if !over.is_empty() {
        bail!(
            "instructions per event rose more than {:.0}% over {}: {}",
            args.tolerance * 100.0,
            args.baseline.display(),
            over.join("; ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_come_from_the_totals_line() {
        let dir = std::env::temp_dir().join(format!("instr-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("out");
        std::fs::write(
            &file,
            "version: 1\nevents: Ir\nfn=(1) x\n3 7\ntotals: 123456\n",
        )
        .unwrap();
        assert_eq!(totals(&file).unwrap(), 123456);
        std::fs::write(&file, "events: Ir\n").unwrap();
        assert!(totals(&file).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
