//! `herald agent add|next|done`: the agent desk from the command line.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;

use super::{Ctx, print_json};
use crate::desk::{self, Next};
use crate::domain::outcome::Outcome;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum AgentCmd {
    /// Add an agent (or change their skills and capacity).
    Add {
        name: String,
        /// Skills, comma-separated (`collections,spanish`): agent steps may require some.
        #[arg(long, value_delimiter = ',')]
        skills: Vec<String>,
        /// Calls the agent may hold at once.
        #[arg(long, default_value_t = 1)]
        capacity: u32,
    },
    /// Take the next call waiting for an agent with these skills.
    Next { agent: String },
    /// Record the outcome of a call the agent holds.
    Done {
        /// The call's attempt id (as `next` printed it).
        attempt: i64,
        #[arg(long)]
        agent: String,
        /// promise_to_pay, paid, refused, wrong_number, callback_requested, completed, no_answer, busy, voicemail...
        #[arg(long)]
        disposition: String,
        #[arg(long)]
        note: Option<String>,
    },
}

pub async fn agent(ctx: &Ctx, cmd: AgentCmd) -> Result<ExitCode> {
    let store = ctx.store().await?;
    match cmd {
        AgentCmd::Add {
            name,
            skills,
            capacity,
        } => {
            if !crate::domain::is_name(&name) {
                bail!("`{name}` is not an agent name (letters, digits, `_` and `-`)");
            }
            if capacity == 0 {
                bail!("an agent's capacity is at least 1");
            }
            store
                .upsert_agent(&name, &skills, capacity, ctx.now())
                .await?;
            println!(
                "agent {name}: skills [{}], capacity {capacity}",
                skills.join(", ")
            );
        }
        AgentCmd::Next { agent } => {
            let catalog = ctx.catalog(&[]).await?;
            let next = desk::next(&store, &catalog, &ctx.settings, &agent, ctx.now()).await?;
            if ctx.json() {
                print_json(&next)?;
                // No call for the agent: exit code 3, as in the table output.
                if !matches!(next, Next::Call { .. }) {
                    return Ok(ExitCode::from(3));
                }
            } else {
                match next {
                    Next::Call {
                        attempt,
                        campaign,
                        step,
                        contact,
                        history,
                    } => {
                        let name = [contact.first_name.as_deref(), contact.last_name.as_deref()]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join(" ");
                        println!(
                            "call {attempt}: {name} ({}) for {campaign}, step {step}",
                            contact.external_id
                        );
                        // The agent needs the number to dial it: shown here, never logged.
                        println!(
                            "  phone   {}",
                            contact.phone.as_ref().map_or("-", |p| p.as_str())
                        );
                        println!("  locale  {}", contact.locale.as_deref().unwrap_or("-"));
                        for (k, v) in &contact.attributes {
                            println!("  {k:<8}{v}");
                        }
                        for e in history {
                            let detail = e["detail"]
                                .as_str()
                                .map(|d| format!(" ({d})"))
                                .unwrap_or_default();
                            println!(
                                "  {}  {} via {}{detail}",
                                e["at"].as_str().unwrap_or("").get(..16).unwrap_or(""),
                                e["kind"].as_str().unwrap_or(""),
                                e["channel"].as_str().unwrap_or("")
                            );
                        }
                        println!(
                            "then: herald agent done {attempt} --agent {agent} --disposition promise_to_pay|paid|refused|..."
                        );
                    }
                    Next::AtCapacity { holding } => {
                        println!(
                            "{agent} already holds {} call(s): {holding:?}; finish one with `herald agent done`",
                            holding.len()
                        );
                        return Ok(ExitCode::from(3));
                    }
                    Next::NothingWaiting => {
                        println!("no call is waiting for {agent}");
                        return Ok(ExitCode::from(3));
                    }
                }
            }
        }
        AgentCmd::Done {
            attempt,
            agent,
            disposition,
            note,
        } => {
            let outcome: Outcome = serde_json::from_value(serde_json::Value::String(disposition.clone()))
                .map_err(|_| anyhow::anyhow!("`{disposition}` is not an outcome (promise_to_pay, paid, refused, wrong_number, callback_requested, completed...)"))?;
            desk::done(&store, &agent, attempt, outcome, note.as_deref(), ctx.now()).await?;
            println!(
                "call {attempt}: {disposition} recorded (applied by the daemon within a second)"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
