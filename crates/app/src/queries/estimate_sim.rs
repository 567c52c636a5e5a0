//! The batching part of `pforge plan --estimate`: a small deterministic simulation, in virtual
//! time, of a run's calls to the providers that batch items across domains.
//!
//! Why simulate: how many requests a batched endpoint becomes is not `items / max_items`. The
//! gateway sends a group's queue when it is full, `window_ms` after its first item, or, while an
//! earlier batch of the group waits for a rate-limit or in-flight slot, as soon as that one has
//! left (crates/budget/src/batch.rs). So when the provider is the one that binds, every slot
//! carries what queued meanwhile, and that depends on how many module runs are waiting at once
//! (the executor's permits, domains in flight), on the rate limit, on the latency, and on the
//! other calls competing for the same slots (a name search). This replays exactly that policy:
//! the executor's FIFO permits and domains in flight, each provider's in-flight limit and GCRA
//! pacing, the batch groups' windows, and the cache and single flight per item.
//!
//! It is fed plain data (no gateway, no store), so it is cheap: a few events per call, well
//! under a second for 10,000 domains.

use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{Hash, Hasher};

/// A provider as the simulation paces it.
pub(crate) struct SimProvider {
    /// Seconds between two requests at the sustained rate (`None`: not rate limited).
    pub interval: Option<f64>,
    /// Requests allowed at once before the rate applies.
    pub burst: u32,
    /// Most requests in progress at once.
    pub max_in_flight: Option<u32>,
}

/// A batch group: calls to one endpoint with the same other parameters.
pub(crate) struct SimGroup {
    pub provider: usize,
    /// `None`: no batch rule, each call is one request for its own set of items.
    pub max_items: Option<usize>,
    /// Seconds a batch stays open for more items.
    pub window: f64,
}

/// One call of a module run.
pub(crate) enum SimCall {
    /// A call answered by key: made once per domain (or once per run), then cached.
    Plain {
        provider: usize,
        key: usize,
        per_run: bool,
    },
    /// A call for `count` items of `group`: the domain's own, or drawn from a shared pool
    /// (`(pool id, distinct items)`).
    Items {
        group: usize,
        count: u32,
        pool: Option<(usize, u64)>,
    },
}

pub(crate) struct SimStep {
    pub call: SimCall,
    /// Index of the share decision the call depends on.
    pub share: Option<usize>,
}

/// A module as the executor schedules it.
pub(crate) struct SimModule {
    /// Indexes of the modules (of this list) it waits for.
    pub deps: Vec<usize>,
    pub steps: Vec<SimStep>,
}

pub(crate) struct SimInput {
    pub providers: Vec<SimProvider>,
    pub groups: Vec<SimGroup>,
    pub modules: Vec<SimModule>,
    /// Per domain (in input order) and module: whether it runs (`domain * modules + module`).
    pub runs: Vec<bool>,
    /// Per domain and share key: whether the domain makes the calls depending on it.
    pub made: Vec<bool>,
    pub shares: usize,
    /// The executor's permits (module runs at once).
    pub permits: usize,
    pub domains_in_flight: usize,
    /// Seconds a request takes once sent.
    pub latency: f64,
}

#[derive(Debug, Default)]
pub(crate) struct SimOutput {
    /// Requests per group.
    pub requests: Vec<u64>,
    /// Items sent per group (each distinct item once, unless the cache could not share it).
    pub items: Vec<u64>,
    /// Virtual seconds until the last module run ended.
    pub seconds: f64,
}

#[derive(Clone, Copy, PartialEq)]
enum Ev {
    Resume(usize),
    Timer { group: usize, gen: u64 },
    Token(usize),
    Answer(usize),
}

struct Event {
    at: f64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Event {
    fn eq(&self, o: &Self) -> bool {
        self.seq == o.seq
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Event {
    /// Earliest first (the heap is a max-heap), ties in the order scheduled.
    fn cmp(&self, o: &Self) -> Ordering {
        o.at.total_cmp(&self.at).then(o.seq.cmp(&self.seq))
    }
}

enum Slot {
    Done,
    InFlight(Vec<usize>),
}

struct Req {
    provider: usize,
    group: Option<usize>,
    keys: Vec<u64>,
}

#[derive(Default)]
struct ProviderState {
    busy: u32,
    queue: VecDeque<usize>,
    tat: f64,
}

struct Pending {
    gen: u64,
    opened: f64,
    keys: Vec<u64>,
}

#[derive(Default)]
struct GroupState {
    pending: Option<Pending>,
    waiting: u32,
}

#[derive(Default, Clone)]
struct Run {
    step: usize,
    outstanding: u32,
}

struct Sim<'a> {
    input: &'a SimInput,
    now: f64,
    seq: u64,
    heap: BinaryHeap<Event>,
    cache: HashMap<u64, Slot>,
    reqs: Vec<Req>,
    providers: Vec<ProviderState>,
    groups: Vec<GroupState>,
    next_gen: u64,
    runs: Vec<Run>,
    /// Per domain: modules not finished (running or waiting), and per module whether done.
    left: Vec<usize>,
    done: Vec<bool>,
    /// Per run: asked for a permit already.
    started: Vec<bool>,
    free_permits: usize,
    permit_queue: VecDeque<usize>,
    next_domain: usize,
    domains_running: usize,
    out: SimOutput,
}

fn hash(parts: &[u64]) -> u64 {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

/// A deterministic generator (splitmix64), so one list always gets one estimate.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs the simulation to the end.
pub(crate) fn simulate(input: &SimInput) -> SimOutput {
    let m = input.modules.len();
    let domains = input.runs.len().checked_div(m).unwrap_or(0);
    let mut sim = Sim {
        input,
        now: 0.0,
        seq: 0,
        heap: BinaryHeap::new(),
        cache: HashMap::new(),
        reqs: Vec::new(),
        providers: input.providers.iter().map(|_| Default::default()).collect(),
        groups: input.groups.iter().map(|_| Default::default()).collect(),
        next_gen: 0,
        runs: vec![Run::default(); domains * m],
        left: vec![0; domains],
        done: vec![false; domains * m],
        started: vec![false; domains * m],
        free_permits: input.permits.max(1),
        permit_queue: VecDeque::new(),
        next_domain: 0,
        domains_running: 0,
        out: SimOutput {
            requests: vec![0; input.groups.len()],
            items: vec![0; input.groups.len()],
            seconds: 0.0,
        },
    };
    sim.start_domains(domains);
    while let Some(e) = sim.heap.pop() {
        sim.now = e.at;
        match e.ev {
            Ev::Resume(r) => sim.advance(r),
            Ev::Timer { group, gen } => sim.window_closed(group, gen),
            Ev::Token(q) => sim.token(q),
            Ev::Answer(q) => sim.answer(q),
        }
    }
    sim.out.seconds = sim.now;
    sim.out
}

impl Sim<'_> {
    fn at(&mut self, at: f64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Event {
            at,
            seq: self.seq,
            ev,
        });
    }

    fn modules(&self) -> usize {
        self.input.modules.len()
    }

    fn start_domains(&mut self, domains: usize) {
        let m = self.modules();
        while self.domains_running < self.input.domains_in_flight.max(1)
            && self.next_domain < domains
        {
            let d = self.next_domain;
            self.next_domain += 1;
            let running = (0..m).filter(|&i| self.input.runs[d * m + i]).count();
            for i in 0..m {
                self.done[d * m + i] = !self.input.runs[d * m + i];
            }
            if running == 0 {
                continue;
            }
            self.left[d] = running;
            self.domains_running += 1;
            self.start_ready(d);
        }
    }

    /// Asks a permit for every module of `d` whose dependencies are done and that has not
    /// started yet.
    fn start_ready(&mut self, d: usize) {
        let m = self.modules();
        for i in 0..m {
            let r = d * m + i;
            if self.done[r] || self.started[r] {
                continue;
            }
            if self.input.modules[i]
                .deps
                .iter()
                .all(|&dep| self.done[d * m + dep])
            {
                self.started[r] = true;
                if self.free_permits > 0 {
                    self.free_permits -= 1;
                    let now = self.now;
                    self.at(now, Ev::Resume(r));
                } else {
                    self.permit_queue.push_back(r);
                }
            }
        }
    }

    fn finish(&mut self, r: usize) {
        let m = self.modules();
        let d = r / m;
        self.done[r] = true;
        match self.permit_queue.pop_front() {
            Some(next) => {
                let now = self.now;
                self.at(now, Ev::Resume(next));
            }
            None => self.free_permits += 1,
        }
        self.left[d] -= 1;
        if self.left[d] == 0 {
            self.domains_running -= 1;
            let domains = self.input.runs.len() / m;
            self.start_domains(domains);
        } else {
            self.start_ready(d);
        }
    }

    /// Runs module run `r` until it has to wait for an answer, or ends.
    fn advance(&mut self, r: usize) {
        let m = self.modules();
        let (d, i) = (r / m, r % m);
        let input = self.input;
        loop {
            let step = self.runs[r].step;
            let Some(s) = input.modules[i].steps.get(step) else {
                self.finish(r);
                return;
            };
            self.runs[r].step += 1;
            if let Some(k) = s.share {
                if !input.made[d * input.shares + k] {
                    continue;
                }
            }
            match &s.call {
                SimCall::Plain {
                    provider,
                    key,
                    per_run,
                } => {
                    let ck = if *per_run {
                        hash(&[1, *provider as u64, *key as u64])
                    } else {
                        hash(&[0, *provider as u64, *key as u64, d as u64])
                    };
                    if self.wait_or_ask(r, ck) {
                        self.runs[r].outstanding = 1;
                        self.submit(Req {
                            provider: *provider,
                            group: None,
                            keys: vec![ck],
                        });
                        return;
                    }
                    if self.runs[r].outstanding > 0 {
                        return;
                    }
                }
                SimCall::Items { group, count, pool } => {
                    let g = &input.groups[*group];
                    let mut items: Vec<u64> = match pool {
                        None => (0..u64::from(*count))
                            .map(|j| hash(&[3, *group as u64, d as u64, j]))
                            .collect(),
                        Some((p, size)) => {
                            let mut state = hash(&[d as u64, i as u64, step as u64]);
                            let want = u64::from(*count).min(*size);
                            let mut drawn: Vec<u64> = Vec::with_capacity(want as usize);
                            while (drawn.len() as u64) < want {
                                let x = splitmix(&mut state) % size;
                                if !drawn.contains(&x) {
                                    drawn.push(x);
                                }
                            }
                            drawn
                                .into_iter()
                                .map(|x| hash(&[4, *group as u64, *p as u64, x]))
                                .collect()
                        }
                    };
                    match g.max_items {
                        None => {
                            // One request for this set of items, shared only by an identical set.
                            items.sort_unstable();
                            let mut parts = vec![2, *group as u64];
                            parts.extend(&items);
                            let ck = hash(&parts);
                            if self.wait_or_ask(r, ck) {
                                self.runs[r].outstanding = 1;
                                self.out.items[*group] += items.len() as u64;
                                self.submit(Req {
                                    provider: g.provider,
                                    group: Some(*group),
                                    keys: vec![ck],
                                });
                                return;
                            }
                            if self.runs[r].outstanding > 0 {
                                return;
                            }
                        }
                        Some(max) => {
                            for item in items {
                                if self.wait_or_ask(r, item) {
                                    self.runs[r].outstanding += 1;
                                    self.enqueue(*group, item, max);
                                }
                            }
                            if self.runs[r].outstanding > 0 {
                                return;
                            }
                        }
                    }
                }
            }
        }
    }

    /// `true` when `key` must be asked for (now marked in flight for `r`); else the answer is
    /// cached (nothing to wait for) or in flight (`r` now waits for it).
    fn wait_or_ask(&mut self, r: usize, key: u64) -> bool {
        match self.cache.get_mut(&key) {
            Some(Slot::Done) => false,
            Some(Slot::InFlight(waiters)) => {
                waiters.push(r);
                self.runs[r].outstanding += 1;
                false
            }
            None => {
                self.cache.insert(key, Slot::InFlight(vec![r]));
                true
            }
        }
    }

    /// Queues `item` in `group`'s next batch (batch.rs `State::enqueue`).
    fn enqueue(&mut self, group: usize, item: u64, max: usize) {
        let window = self.input.groups[group].window;
        let now = self.now;
        let g = &mut self.groups[group];
        if g.pending.is_none() {
            let gen = self.next_gen;
            self.next_gen += 1;
            g.pending = Some(Pending {
                gen,
                opened: now,
                keys: Vec::new(),
            });
            if g.waiting == 0 {
                self.at(now + window, Ev::Timer { group, gen });
            }
        }
        let g = &mut self.groups[group];
        let Some(p) = g.pending.as_mut() else { return };
        p.keys.push(item);
        if p.keys.len() >= max {
            self.send(group);
        }
    }

    fn send(&mut self, group: usize) {
        let g = &mut self.groups[group];
        let Some(p) = g.pending.take() else { return };
        g.waiting += 1;
        self.out.items[group] += p.keys.len() as u64;
        let provider = self.input.groups[group].provider;
        self.submit(Req {
            provider,
            group: Some(group),
            keys: p.keys,
        });
    }

    fn window_closed(&mut self, group: usize, gen: u64) {
        let g = &self.groups[group];
        if g.waiting > 0 || g.pending.as_ref().is_none_or(|p| p.gen != gen) {
            return;
        }
        self.send(group);
    }

    /// A request enters the provider's in-flight limit, then its pacing.
    fn submit(&mut self, req: Req) {
        let provider = req.provider;
        let q = self.reqs.len();
        self.reqs.push(req);
        let cfg = &self.input.providers[provider];
        let st = &mut self.providers[provider];
        if cfg.max_in_flight.is_some_and(|max| st.busy >= max) {
            st.queue.push_back(q);
            return;
        }
        self.pace(q);
    }

    /// GCRA: the earliest time the request conforms, then the next theoretical arrival.
    fn pace(&mut self, q: usize) {
        let provider = self.reqs[q].provider;
        let cfg = &self.input.providers[provider];
        let now = self.now;
        let st = &mut self.providers[provider];
        st.busy += 1;
        let at = match cfg.interval {
            Some(t) => {
                let tolerance = t * f64::from(cfg.burst.max(1) - 1);
                let at = now.max(st.tat - tolerance);
                st.tat = st.tat.max(at) + t;
                at
            }
            None => now,
        };
        self.at(at, Ev::Token(q));
    }

    /// The request got past the limiters: it is sent, and its group may form the next batch.
    fn token(&mut self, q: usize) {
        if let Some(group) = self.reqs[q].group {
            self.out.requests[group] += 1;
            let window = self.input.groups[group].window;
            let now = self.now;
            let g = &mut self.groups[group];
            if self.input.groups[group].max_items.is_some() {
                g.waiting = g.waiting.saturating_sub(1);
                if g.waiting == 0 {
                    if let Some(p) = &g.pending {
                        let (gen, at) = (p.gen, (p.opened + window).max(now));
                        self.at(at, Ev::Timer { group, gen });
                    }
                }
            }
        }
        let latency = self.input.latency;
        let now = self.now;
        self.at(now + latency, Ev::Answer(q));
    }

    fn answer(&mut self, q: usize) {
        let provider = self.reqs[q].provider;
        let st = &mut self.providers[provider];
        st.busy = st.busy.saturating_sub(1);
        if let Some(next) = st.queue.pop_front() {
            self.pace(next);
        }
        let keys = std::mem::take(&mut self.reqs[q].keys);
        let now = self.now;
        for key in keys {
            if let Some(Slot::InFlight(waiters)) = self.cache.insert(key, Slot::Done) {
                for r in waiters {
                    let run = &mut self.runs[r];
                    run.outstanding = run.outstanding.saturating_sub(1);
                    if run.outstanding == 0 {
                        self.at(now, Ev::Resume(r));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_module(steps: Vec<SimStep>, domains: usize, rate: Option<f64>) -> SimInput {
        SimInput {
            providers: vec![SimProvider {
                interval: rate.map(|r| 1.0 / r),
                burst: 1,
                max_in_flight: None,
            }],
            groups: vec![SimGroup {
                provider: 0,
                max_items: Some(50),
                window: 0.005,
            }],
            modules: vec![SimModule {
                deps: Vec::new(),
                steps,
            }],
            runs: vec![true; domains],
            made: Vec::new(),
            shares: 0,
            permits: 16,
            domains_in_flight: 64,
            latency: 0.1,
        }
    }

    #[test]
    fn own_items_fill_batches_of_at_most_max_items() {
        // 16 runs at once, no rate limit: each window carries what the 16 permits asked.
        let steps = vec![SimStep {
            call: SimCall::Items {
                group: 0,
                count: 1,
                pool: None,
            },
            share: None,
        }];
        let out = simulate(&one_module(steps, 1000, None));
        assert_eq!(out.items[0], 1000);
        assert!(out.requests[0] >= 20, "{out:?}");
        assert!(out.requests[0] <= 1000 / 16 + 2, "{out:?}");
    }

    #[test]
    fn shared_items_are_fetched_once() {
        let steps = vec![SimStep {
            call: SimCall::Items {
                group: 0,
                count: 3,
                pool: Some((0, 10)),
            },
            share: None,
        }];
        let out = simulate(&one_module(steps, 500, Some(5.0)));
        assert_eq!(out.items[0], 10, "{out:?}");
        assert!(out.requests[0] <= 10, "{out:?}");
    }

    #[test]
    fn a_binding_rate_limit_makes_batches_carry_the_queue() {
        // At 1 request a second every request carries what the 16 permits queued meanwhile.
        let steps = vec![SimStep {
            call: SimCall::Items {
                group: 0,
                count: 1,
                pool: None,
            },
            share: None,
        }];
        let out = simulate(&one_module(steps, 160, Some(1.0)));
        assert_eq!(out.items[0], 160);
        assert!(out.requests[0] <= 12, "{out:?}");
        assert!(out.seconds >= 9.0, "{out:?}");
    }
}
