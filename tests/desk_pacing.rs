//! Agent pacing over a whole simulated campaign day, on both databases: two campaigns of
//! agent calls (one needing a Spanish speaker) over people in three time zones, five agents
//! of different skills and capacities served by two daemons at once, dispositions that
//! bring retries back, and a DNC list arriving while calls wait at the desk.
//!
//! Every five simulated minutes each agent asks for more calls than they have room for,
//! through both daemons concurrently. After every round: no agent holds more than their
//! capacity; the calls given never outnumber the free places; no call goes to two agents
//! or to an agent without the skills; none is given outside the person's call window or
//! after their number is on the DNC list. At the end every call has exactly one final
//! state, and each disposition closed exactly one call.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::world::{Db, world_configured_on};
use herald::clock::Clock;
use herald::desk::{self, Next};
use herald::domain::contact::{Suppression, SuppressionKind, SuppressionTarget};
use herald::domain::ledger::AttemptState;
use herald::domain::outcome::Outcome;
use herald::domain::policy;
use herald::domain::values::Channel;
use herald::store::{AnyStore, Store};

const CALLS: &str = r#"kind = "collection"
[audience]
lists = ["people"]
[schedule]
once = 2026-11-30T08:30:00Z
[[steps]]
id = "human"
channel = "agent"
skills = ["collections"]
[retry.no_answer]
after = "30m"
max = 2
[[tags]]
on = "promise_to_pay"
add = "promise_to_pay"
"#;

const SPANISH: &str = r#"kind = "reminder"
[audience]
lists = ["people"]
segment = 'locale = "es"'
[schedule]
once = 2026-11-30T10:00:00Z
[windows.agent]
hours = "10:00-14:00"
[[steps]]
id = "human"
channel = "agent"
skills = ["spanish"]
"#;

/// Name, skills, capacity. Eve has no skill any call needs: she must never get one.
const AGENTS: [(&str, &[&str], u32); 5] = [
    ("ana", &["collections", "spanish"], 2),
    ("bob", &["collections"], 1),
    ("chen", &["spanish"], 1),
    ("dee", &["collections"], 3),
    ("eve", &[], 2),
];

const ZONES: [&str; 3] = ["Europe/London", "Europe/Madrid", "America/New_York"];
const PEOPLE: usize = 42;

fn people() -> String {
    let mut csv = String::from("external_id,first_name,phone,locale,timezone,balance\n");
    for i in 0..PEOPLE {
        let locale = if i % 3 == 1 { "es" } else { "en" };
        csv.push_str(&format!(
            "P{i},Pat,+4474005{i:05},{locale},{},90\n",
            ZONES[i % ZONES.len()]
        ));
    }
    csv
}

/// A small deterministic generator: the same run every time, no dependency.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn agents_never_get_more_calls_than_they_are_free_for(db: Db) {
    let Some(w) = world_configured_on(
        db,
        &[("calls", CALLS), ("spanish", SPANISH)],
        "[agent]\nprovider = \"desk\"\n",
        &people(),
    )
    .await
    else {
        return;
    };
    let (settings, catalog) = w.catalog().await;
    let (settings, catalog) = (Arc::new(settings), Arc::new(catalog));
    // A second daemon serving the same desk through its own connections.
    let daemons = [
        w.engine.store.clone(),
        AnyStore::open(&settings.database_url, false).await.unwrap(),
    ];
    for (name, skills, capacity) in AGENTS {
        let skills: Vec<String> = skills.iter().map(|s| s.to_string()).collect();
        w.engine
            .store
            .upsert_agent(name, &skills, capacity, w.clock.now())
            .await
            .unwrap();
    }
    let needs: BTreeMap<&str, &str> = [("calls", "collections"), ("spanish", "spanish")].into();
    let mut contacts = BTreeMap::new();
    for i in 0..PEOPLE {
        let c = w.contact(&format!("P{i}")).await;
        contacts.insert(c.id, c);
    }

    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let mut given_ever = BTreeSet::new();
    let mut given_to: BTreeMap<&str, usize> = BTreeMap::new();
    let mut dispositions = 0;
    let mut rounds_short_of_agents = 0;
    let mut dnc: Option<(DateTime<Utc>, BTreeSet<i64>)> = None;
    let start = w.clock.now();
    loop {
        // From 20 hours on (the last window has closed), stop once every call has ended.
        let elapsed = w.clock.now() - start;
        if elapsed >= Duration::hours(20)
            && elapsed.num_minutes() % 60 == 0
            && all_ended(&w, &contacts).await
        {
            break;
        }
        assert!(elapsed < Duration::days(3), "the calls never all ended");
        w.run_for(Duration::minutes(5)).await;
        let now = w.clock.now();

        // Midway, every seventh person's number goes on the DNC list.
        if dnc.is_none() && now >= start + Duration::hours(3) {
            let mut listed = BTreeSet::new();
            for c in contacts.values().filter(|c| c.id % 7 == 0) {
                listed.insert(c.id);
                w.engine
                    .store
                    .upsert_suppressions(&[Suppression {
                        target: SuppressionTarget::Phone(c.phone.clone().unwrap()),
                        kind: SuppressionKind::Dnc,
                        channel: None,
                        reason: "national DNC list".into(),
                        source: "test".into(),
                        created_at: now,
                        expires_at: None,
                    }])
                    .await
                    .unwrap();
            }
            dnc = Some((now, listed));
        }

        // What each agent holds: within capacity, with the skills, nobody else's.
        let mut free = BTreeMap::new();
        let mut held_anywhere = BTreeSet::new();
        let mut holding = Vec::new();
        for (name, skills, capacity) in AGENTS {
            let held = w.engine.store.desk_held_by(name).await.unwrap();
            assert!(
                held.len() as u32 <= capacity,
                "{name} holds {} calls with capacity {capacity}",
                held.len()
            );
            for call in &held {
                assert!(
                    held_anywhere.insert(call.id),
                    "call {} is held by two agents",
                    call.id
                );
                assert!(skills.contains(&needs[call.campaign.as_str()]));
                assert_eq!(call.state, AttemptState::Sent);
                holding.push((name, call.id));
            }
            free.insert(name, capacity - held.len() as u32);
        }
        let waiting = w.engine.store.desk_waiting(1000).await.unwrap().len();
        let free_places: u32 = free.values().sum();
        if waiting as u32 > free_places {
            rounds_short_of_agents += 1;
        }

        // Agents finish about half of their calls (applied at the next round).
        for (name, call) in holding {
            if dice.below(2) == 0 {
                let disposition = [
                    Outcome::NoAnswer,
                    Outcome::NoAnswer,
                    Outcome::PromiseToPay,
                    Outcome::Refused,
                    Outcome::WrongNumber,
                ][dice.below(5) as usize];
                desk::done(&w.engine.store, name, call, disposition, None, now)
                    .await
                    .unwrap();
                dispositions += 1;
            }
        }

        // Every agent asks once more than their capacity, through both daemons at once.
        let mut asks = tokio::task::JoinSet::new();
        for (name, _, capacity) in AGENTS {
            for i in 0..=capacity {
                let store = daemons[i as usize % 2].clone();
                let (catalog, settings) = (catalog.clone(), settings.clone());
                asks.spawn(async move {
                    let next = desk::next(&store, &catalog, &settings, name, now).await;
                    (name, next.unwrap())
                });
            }
        }
        let mut given: BTreeMap<&str, u32> = BTreeMap::new();
        while let Some(answer) = asks.join_next().await {
            let (name, next) = answer.unwrap();
            let Next::Call {
                attempt, campaign, ..
            } = next
            else {
                continue;
            };
            *given.entry(name).or_default() += 1;
            *given_to.entry(name).or_default() += 1;
            assert!(given_ever.insert(attempt), "call {attempt} given twice");
            let skills = AGENTS.iter().find(|a| a.0 == name).unwrap().1;
            assert!(
                skills.contains(&needs[campaign.as_str()]),
                "{name} got a {campaign} call without the skill"
            );
            // The call may be made now: inside the person's window, not on the DNC list.
            let call = w
                .engine
                .store
                .desk_held_by(name)
                .await
                .unwrap()
                .into_iter()
                .find(|a| a.id == attempt)
                .expect("the agent holds the call they were given");
            let contact = &contacts[&call.contact_id];
            let zone = policy::contact_zone(contact, settings.default_timezone).unwrap();
            let windows = &catalog.campaign(&campaign).unwrap().campaign.windows;
            let window = settings
                .policy
                .effective_window(Channel::Agent, windows.get(&Channel::Agent));
            assert!(
                window.contains(now, zone),
                "{campaign} call to {} given at {} local, outside its window",
                contact.external_id,
                now.with_timezone(&zone)
            );
            if let Some((_, listed)) = &dnc {
                assert!(
                    !listed.contains(&contact.id),
                    "{campaign} call to {} given after the DNC entry",
                    contact.external_id
                );
            }
        }
        for (name, n) in &given {
            assert!(
                *n <= free[name],
                "{name} was given {n} calls with {} free places",
                free[name]
            );
        }
        assert!(given.values().sum::<u32>() <= free_places);
    }

    // Every call ended once: each disposition closed one call, the DNC list withdrew the
    // listed people's waiting calls, and nothing is left open.
    let (dnc_at, listed) = dnc.expect("the DNC list arrived");
    let mut done = 0;
    let mut withdrawn = 0;
    for contact in contacts.values() {
        for a in w.attempts(&contact.external_id).await {
            assert_eq!(a.channel, Channel::Agent);
            match a.state {
                AttemptState::Done => done += 1,
                AttemptState::Skipped => {
                    assert!(
                        listed.contains(&contact.id),
                        "{} skipped: {:?}",
                        contact.external_id,
                        a.reason
                    );
                    withdrawn += 1;
                }
                other => panic!("{} call {} ended {other:?}", contact.external_id, a.id),
            }
        }
    }
    eprintln!(
        "{} calls given, {done} dispositions, {withdrawn} withdrawn, {rounds_short_of_agents} rounds short of agents, ended at {}",
        given_ever.len(),
        w.clock.now()
    );
    assert_eq!(done, dispositions, "each disposition closed one call");
    assert!(
        withdrawn > 0,
        "the DNC list found calls waiting after {dnc_at}"
    );
    // The desk was short of agents for a good part of the day, so the limits were tested.
    assert!(
        rounds_short_of_agents >= 10,
        "only {rounds_short_of_agents} rounds had more calls waiting than free places"
    );
    assert_eq!(given_to.get("eve"), None, "eve has none of the skills");
    for name in ["ana", "bob", "chen", "dee"] {
        assert!(
            given_to.get(name).is_some_and(|n| *n > 0),
            "{name} got no call"
        );
    }
}

async fn all_ended(
    w: &common::world::World,
    contacts: &BTreeMap<i64, herald::domain::contact::Contact>,
) -> bool {
    for c in contacts.values() {
        if w.attempts(&c.external_id)
            .await
            .iter()
            .any(|a| !matches!(a.state, AttemptState::Done | AttemptState::Skipped))
        {
            return false;
        }
    }
    true
}

on_both!(
    agent_pacing_holds_over_a_whole_campaign_day,
    agents_never_get_more_calls_than_they_are_free_for
);
