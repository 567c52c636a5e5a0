//! The registry of modules and the validated plan (a petgraph DAG with derived waves).
//!
//! Modules declare their exact dependencies; [`Registry::plan`] checks the whole graph once
//! (duplicate ids, unknown dependencies, cycles) so that the executor never has to, and derives
//! waves by longest-path layering for display and estimates.

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use pforge_core::Module;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;
use thiserror::Error;

/// Why the module graph cannot be planned. Each message names the modules involved.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// A module lists a dependency id that no registered module has.
    #[error("module {module} depends on unknown module {dependency}")]
    UnknownDependency { module: String, dependency: String },
    /// Two registered modules share an id (ids are storage keys, so they must be unique).
    #[error("module id {0} is registered twice")]
    DuplicateId(String),
    /// The path lists the cycle's modules in dependency order, first repeated at the end:
    /// `[a, b, c, a]` means a depends on b, b depends on c and c depends on a. The cycle reported
    /// is a shortest one through the smallest id involved, so the message is stable.
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    /// A module id asked for by the user (e.g. `--modules`) is not in the plan.
    #[error("unknown module {0} (see `pforge plan` for the list)")]
    UnknownModule(String),
}

/// Collects modules before planning.
#[derive(Default, Clone)]
pub struct Registry {
    modules: Vec<Arc<dyn Module>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a module; validation happens in [`Registry::plan`].
    pub fn register(&mut self, module: Arc<dyn Module>) {
        self.modules.push(module);
    }

    /// Number of registered modules (before validation).
    pub fn len(&self) -> usize {
        self.modules.len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// Validates the graph once and derives waves by longest-path layering.
    ///
    /// Errors are reported in registration order: the first duplicate id, else the first unknown
    /// dependency, else a cycle.
    pub fn plan(&self) -> Result<Plan, PlanError> {
        Plan::build(&self.modules)
    }
}

/// A validated module DAG. Waves are for display and estimates; the executor starts each module
/// as soon as its own dependencies are done.
///
/// Cloning is O(1) (the contents are shared), and the plan is `Send + Sync`, so it can be handed
/// to many tasks.
#[derive(Clone)]
pub struct Plan {
    inner: Arc<PlanInner>,
}

struct PlanInner {
    /// Topological order: sorted by (wave, id).
    modules: Vec<Arc<dyn Module>>,
    /// Wave (1-based) of `modules[i]`.
    waves: Vec<usize>,
    /// Position in `modules` by id.
    index: HashMap<String, usize>,
    /// Node `i` is `modules[i]`; edges go dependency -> dependent.
    graph: DiGraph<usize, ()>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("waves", &self.waves())
            .finish()
    }
}

impl Plan {
    fn build(registered: &[Arc<dyn Module>]) -> Result<Plan, PlanError> {
        // 1. Ids are unique.
        let mut position: HashMap<&str, usize> = HashMap::with_capacity(registered.len());
        for (i, m) in registered.iter().enumerate() {
            if position.insert(m.spec().id.as_str(), i).is_some() {
                return Err(PlanError::DuplicateId(m.spec().id.clone()));
            }
        }
        // 2. Every dependency exists.
        for m in registered {
            for dep in &m.spec().dependencies {
                if !position.contains_key(dep.as_str()) {
                    return Err(PlanError::UnknownDependency {
                        module: m.spec().id.clone(),
                        dependency: dep.clone(),
                    });
                }
            }
        }
        // 3. The graph in registration order, edges dependency -> dependent (deduplicated).
        let mut graph: DiGraph<usize, ()> = DiGraph::with_capacity(registered.len(), 0);
        for i in 0..registered.len() {
            graph.add_node(i);
        }
        for (i, m) in registered.iter().enumerate() {
            for dep in &m.spec().dependencies {
                let d = position[dep.as_str()];
                graph.update_edge(NodeIndex::new(d), NodeIndex::new(i), ());
            }
        }
        // 4. No cycles.
        let order = match toposort(&graph, None) {
            Ok(order) => order,
            Err(_) => return Err(PlanError::Cycle(find_cycle(&graph, registered))),
        };
        // 5. Longest-path layering: roots are wave 1, others 1 + the deepest dependency.
        let mut wave = vec![0usize; registered.len()];
        for n in order {
            wave[n.index()] = 1 + graph
                .neighbors_directed(n, Direction::Incoming)
                .map(|d| wave[d.index()])
                .max()
                .unwrap_or(0);
        }
        // 6. Stable topological order: by wave, then id. Dependencies always sit in an earlier
        //    wave, so this order respects every edge.
        let mut sorted: Vec<usize> = (0..registered.len()).collect();
        sorted.sort_by(|&a, &b| {
            (wave[a], &registered[a].spec().id).cmp(&(wave[b], &registered[b].spec().id))
        });
        let mut new_pos = vec![0usize; registered.len()];
        for (new, &old) in sorted.iter().enumerate() {
            new_pos[old] = new;
        }
        let modules: Vec<Arc<dyn Module>> = sorted.iter().map(|&i| registered[i].clone()).collect();
        let waves: Vec<usize> = sorted.iter().map(|&i| wave[i]).collect();
        let index = modules
            .iter()
            .enumerate()
            .map(|(i, m)| (m.spec().id.clone(), i))
            .collect();
        let mut final_graph: DiGraph<usize, ()> =
            DiGraph::with_capacity(modules.len(), graph.edge_count());
        for i in 0..modules.len() {
            final_graph.add_node(i);
        }
        for e in graph.raw_edges() {
            final_graph.add_edge(
                NodeIndex::new(new_pos[e.source().index()]),
                NodeIndex::new(new_pos[e.target().index()]),
                (),
            );
        }
        Ok(Plan {
            inner: Arc::new(PlanInner {
                modules,
                waves,
                index,
                graph: final_graph,
            }),
        })
    }

    /// Modules in a topological order (dependencies before dependents): by wave, then by id.
    pub fn modules(&self) -> &[Arc<dyn Module>] {
        &self.inner.modules
    }

    /// Module ids in the same order as [`Plan::modules`].
    pub fn ids(&self) -> Vec<String> {
        self.inner
            .modules
            .iter()
            .map(|m| m.spec().id.clone())
            .collect()
    }

    /// Number of modules in the plan.
    pub fn len(&self) -> usize {
        self.inner.modules.len()
    }

    /// Whether the plan has no modules.
    pub fn is_empty(&self) -> bool {
        self.inner.modules.is_empty()
    }

    /// A module by id.
    pub fn module(&self, id: &str) -> Option<&Arc<dyn Module>> {
        self.inner.index.get(id).map(|&i| &self.inner.modules[i])
    }

    /// Wave number (1-based) of a module.
    pub fn wave_of(&self, id: &str) -> Option<usize> {
        self.inner.index.get(id).map(|&i| self.inner.waves[i])
    }

    /// How many waves the plan has (the length of its longest dependency chain).
    pub fn wave_count(&self) -> usize {
        self.inner.waves.iter().copied().max().unwrap_or(0)
    }

    /// Module ids per wave, wave 1 first, ids sorted within a wave.
    pub fn waves(&self) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = vec![Vec::new(); self.wave_count()];
        // `modules` is sorted by (wave, id), so each wave comes out sorted.
        for (m, &w) in self.inner.modules.iter().zip(&self.inner.waves) {
            out[w - 1].push(m.spec().id.clone());
        }
        out
    }

    /// Ids of the modules that depend directly on `id`, sorted (empty for an unknown id).
    pub fn dependents(&self, id: &str) -> Vec<String> {
        let Some(&i) = self.inner.index.get(id) else {
            return Vec::new();
        };
        let mut out: Vec<String> = self
            .inner
            .graph
            .neighbors_directed(NodeIndex::new(i), Direction::Outgoing)
            .map(|n| self.inner.modules[n.index()].spec().id.clone())
            .collect();
        out.sort();
        out
    }

    /// The sub-plan with only `ids` and everything they transitively depend on.
    pub fn select(&self, ids: &[String]) -> Result<Plan, PlanError> {
        let mut keep: HashSet<usize> = HashSet::new();
        let mut stack: Vec<usize> = Vec::new();
        for id in ids {
            let &i = self
                .inner
                .index
                .get(id.as_str())
                .ok_or_else(|| PlanError::UnknownModule(id.clone()))?;
            stack.push(i);
        }
        while let Some(i) = stack.pop() {
            if keep.insert(i) {
                stack.extend(
                    self.inner
                        .graph
                        .neighbors_directed(NodeIndex::new(i), Direction::Incoming)
                        .map(|n| n.index()),
                );
            }
        }
        let mut chosen: Vec<usize> = keep.into_iter().collect();
        chosen.sort_unstable();
        let modules: Vec<Arc<dyn Module>> = chosen
            .into_iter()
            .map(|i| self.inner.modules[i].clone())
            .collect();
        Plan::build(&modules)
    }

    /// The longest dependency chain, first module to run first (one module per wave). Ties are
    /// broken by the smallest id, so the answer is stable. Useful for run-time estimates: a
    /// domain cannot finish faster than this chain.
    pub fn critical_path(&self) -> Vec<String> {
        let inner = &self.inner;
        // The last module of the deepest wave with the smallest id is the first one in `modules`
        // whose wave is the maximum.
        let max = self.wave_count();
        let Some(mut cur) = inner.waves.iter().position(|&w| w == max) else {
            return Vec::new();
        };
        let mut path = vec![inner.modules[cur].spec().id.clone()];
        while inner.waves[cur] > 1 {
            let want = inner.waves[cur] - 1;
            let next = inner
                .graph
                .neighbors_directed(NodeIndex::new(cur), Direction::Incoming)
                .map(|n| n.index())
                .filter(|&d| inner.waves[d] == want)
                .min(); // positions are sorted by (wave, id): min index = min id
            match next {
                Some(d) => {
                    cur = d;
                    path.push(inner.modules[cur].spec().id.clone());
                }
                None => break, // unreachable by construction of the waves
            }
        }
        path.reverse();
        path
    }

    /// Graphviz DOT text, one cluster per wave.
    ///
    /// Nodes are labelled with id and title; edges go dependency -> dependent. Render with
    /// `pforge plan --dot | dot -Tsvg > plan.svg`.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph plan {\n  rankdir=LR;\n  node [shape=box];\n");
        for (n, wave) in self.waves().iter().enumerate() {
            let w = n + 1;
            let _ = writeln!(out, "  subgraph cluster_w{w} {{");
            let _ = writeln!(out, "    label=\"wave {w}\";");
            for id in wave {
                let title = self
                    .module(id)
                    .map(|m| m.spec().title.as_str())
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    \"{}\" [label=\"{}\\n{}\"];",
                    dot_escape(id),
                    dot_escape(id),
                    dot_escape(title)
                );
            }
            out.push_str("  }\n");
        }
        for m in self.modules() {
            let deps: BTreeSet<&str> = m.spec().dependencies.iter().map(String::as_str).collect();
            for dep in deps {
                let _ = writeln!(
                    out,
                    "  \"{}\" -> \"{}\";",
                    dot_escape(dep),
                    dot_escape(&m.spec().id)
                );
            }
        }
        out.push_str("}\n");
        out
    }

    /// JSON: `{"waves":[{"wave":1,"modules":[{"id","title","dependencies","providers"}]}]}`.
    ///
    /// Modules are sorted by id within a wave; `dependencies` and `providers` are as declared.
    pub fn to_json(&self) -> Value {
        let waves: Vec<Value> = self
            .waves()
            .iter()
            .enumerate()
            .map(|(n, ids)| {
                let modules: Vec<Value> = ids
                    .iter()
                    .filter_map(|id| self.module(id))
                    .map(|m| {
                        let s = m.spec();
                        json!({
                            "id": s.id,
                            "title": s.title,
                            "dependencies": s.dependencies,
                            "providers": s.providers,
                        })
                    })
                    .collect();
                json!({ "wave": n + 1, "modules": modules })
            })
            .collect();
        json!({ "waves": waves })
    }
}

/// Escapes text for a double-quoted DOT string.
fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Finds a cycle in a graph known to have one, for the error message: a shortest cycle through
/// the smallest id of the strongly connected component holding the smallest id among all cyclic
/// components. Returned in dependency order, first id repeated at the end.
fn find_cycle(graph: &DiGraph<usize, ()>, modules: &[Arc<dyn Module>]) -> Vec<String> {
    let id = |n: NodeIndex| modules[graph[n]].spec().id.as_str();
    let cyclic = tarjan_scc(graph)
        .into_iter()
        .filter(|scc| scc.len() > 1 || scc.iter().any(|&n| graph.contains_edge(n, n)));
    let Some((start, members)) = cyclic
        .filter_map(|scc| {
            let start = scc.iter().copied().min_by_key(|&n| id(n))?;
            Some((start, scc))
        })
        .min_by_key(|(start, _)| id(*start))
    else {
        return Vec::new(); // unreachable: called only when toposort found a cycle
    };
    let members: HashSet<NodeIndex> = members.into_iter().collect();

    // BFS from `start` along "depends on" (incoming edges), inside the component, until we come
    // back to `start`. Neighbours in id order keep the answer stable.
    let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    let mut seen: HashSet<NodeIndex> = HashSet::from([start]);
    let mut last = None;
    'bfs: while let Some(n) = queue.pop_front() {
        let mut deps: Vec<NodeIndex> = graph
            .neighbors_directed(n, Direction::Incoming)
            .filter(|d| members.contains(d))
            .collect();
        deps.sort_by_key(|&d| id(d));
        deps.dedup();
        for d in deps {
            if d == start {
                last = Some(n);
                break 'bfs;
            }
            if seen.insert(d) {
                parent.insert(d, n);
                queue.push_back(d);
            }
        }
    }
    // Walk back from the node that depends on `start` to `start`.
    let mut rev = vec![start];
    let mut cur = last;
    while let Some(n) = cur {
        rev.push(n);
        cur = parent.get(&n).copied();
    }
    // rev = [start, x_k, ..., x_1, start]: x_k depends on start, start depends on x_1, etc.
    // Reverse to read start -> x_1 -> ... -> x_k -> start.
    rev.reverse();
    rev.into_iter().map(|n| id(n).to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use pforge_core::{ModuleContext, ModuleError, ModuleOutput, ModuleSpec};
    use proptest::prelude::*;

    struct TestModule {
        spec: ModuleSpec,
    }

    #[async_trait]
    impl Module for TestModule {
        fn spec(&self) -> &ModuleSpec {
            &self.spec
        }
        async fn run(&self, _ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
            Ok(ModuleOutput::new())
        }
    }

    fn module(id: &str, deps: &[&str]) -> Arc<dyn Module> {
        Arc::new(TestModule {
            spec: ModuleSpec {
                id: id.to_string(),
                title: format!("Title of {id}"),
                dependencies: deps.iter().map(|d| d.to_string()).collect(),
                providers: vec![format!("{id}_provider")],
                runs_degraded: false,
                set_arrays: vec![],
            },
        })
    }

    fn registry(mods: &[(&str, &[&str])]) -> Registry {
        let mut r = Registry::new();
        for (id, deps) in mods {
            r.register(module(id, deps));
        }
        r
    }

    /// The product's 15 modules: ids and exact dependencies from the real module specs
    /// (`pforge_modules::builtin_specs`), so these tests plan the DAG the product runs;
    /// registered in reverse order on purpose.
    fn fifteen() -> Registry {
        let mut r = Registry::new();
        for spec in pforge_modules::builtin_specs().into_iter().rev() {
            let deps: Vec<&str> = spec.dependencies.iter().map(String::as_str).collect();
            r.register(module(&spec.id, &deps));
        }
        r
    }

    #[test]
    fn plan_is_send_sync_and_cheap_to_clone() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Plan>();
        let plan = fifteen().plan().unwrap();
        let copy = plan.clone();
        assert!(Arc::ptr_eq(&plan.inner, &copy.inner));
    }

    #[test]
    fn duplicate_id_is_rejected() {
        let r = registry(&[("a", &[]), ("b", &["a"]), ("a", &[])]);
        let err = r.plan().unwrap_err();
        assert_eq!(err, PlanError::DuplicateId("a".into()));
        assert_eq!(err.to_string(), "module id a is registered twice");
    }

    #[test]
    fn unknown_dependency_is_rejected() {
        let r = registry(&[("a", &[]), ("b", &["a", "zz"])]);
        let err = r.plan().unwrap_err();
        assert_eq!(
            err,
            PlanError::UnknownDependency {
                module: "b".into(),
                dependency: "zz".into()
            }
        );
        assert_eq!(err.to_string(), "module b depends on unknown module zz");
    }

    #[test]
    fn cycles_are_reported_with_their_path() {
        // a -> b -> c -> a (each depends on the next), plus an unrelated root.
        let r = registry(&[
            ("c", &["a"]),
            ("root", &[]),
            ("a", &["b", "root"]),
            ("b", &["c"]),
        ]);
        let err = r.plan().unwrap_err();
        assert_eq!(
            err,
            PlanError::Cycle(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        assert_eq!(err.to_string(), "dependency cycle: a -> b -> c -> a");

        let r = registry(&[("x", &["x"])]);
        assert_eq!(
            r.plan().unwrap_err(),
            PlanError::Cycle(vec!["x".into(), "x".into()])
        );

        // Two cycles: the one holding the smallest id is reported, shortest path through it.
        let r = registry(&[
            ("p", &["q"]),
            ("q", &["p"]),
            ("d", &["f", "e"]),
            ("e", &["d"]),
            ("f", &["g"]),
            ("g", &["d"]),
        ]);
        assert_eq!(
            r.plan().unwrap_err(),
            PlanError::Cycle(vec!["d".into(), "e".into(), "d".into()])
        );
    }

    #[test]
    fn duplicate_dependency_entries_are_harmless() {
        let plan = registry(&[("a", &[]), ("b", &["a", "a"])]).plan().unwrap();
        assert_eq!(plan.dependents("a"), vec!["b"]);
        assert_eq!(plan.to_dot().matches("\"a\" -> \"b\"").count(), 1);
    }

    #[test]
    fn empty_registry_gives_empty_plan() {
        let plan = Registry::new().plan().unwrap();
        assert!(plan.is_empty());
        assert!(plan.waves().is_empty());
        assert!(plan.critical_path().is_empty());
        assert_eq!(plan.to_json(), json!({"waves": []}));
    }

    #[test]
    fn fifteen_modules_layer_into_the_products_waves() {
        let plan = fifteen().plan().unwrap();
        assert_eq!(plan.len(), 15);
        assert_eq!(
            plan.waves(),
            vec![
                vec![
                    "m01_company_context",
                    "m02_tech_stack",
                    "m03_traffic",
                    "m06_hiring"
                ],
                vec![
                    "m04_financials",
                    "m08_investors",
                    "m11_displacement_targets"
                ],
                vec![
                    "m05_competitors",
                    "m07_strategic_triggers",
                    "m09_executives",
                    "m12_case_studies"
                ],
                vec![
                    "m10_buying_committee",
                    "m13_icp_priority",
                    "m14_signal_scoring"
                ],
                vec!["m15_strategic_brief"],
            ]
        );
        assert_eq!(plan.wave_of("m01_company_context"), Some(1));
        assert_eq!(plan.wave_of("m07_strategic_triggers"), Some(3));
        assert_eq!(plan.wave_of("m15_strategic_brief"), Some(5));
        assert_eq!(plan.wave_of("nope"), None);
        assert_eq!(plan.wave_count(), 5);
        // Topological order = waves concatenated.
        let flat: Vec<String> = plan.waves().concat();
        assert_eq!(plan.ids(), flat);
        assert_eq!(
            plan.dependents("m05_competitors"),
            vec![
                "m13_icp_priority",
                "m14_signal_scoring",
                "m15_strategic_brief"
            ]
        );
        assert!(plan.dependents("m15_strategic_brief").is_empty());
        assert!(plan.dependents("nope").is_empty());
        assert_eq!(
            plan.module("m06_hiring").unwrap().spec().title,
            "Title of m06_hiring"
        );
        assert!(plan.module("nope").is_none());
        assert_eq!(
            plan.critical_path(),
            vec![
                "m01_company_context",
                "m04_financials",
                "m09_executives",
                "m10_buying_committee",
                "m15_strategic_brief"
            ]
        );
    }

    #[test]
    fn a_deeper_chain_adds_waves() {
        let mut r = fifteen();
        r.register(module("m16_follow_up", &["m15_strategic_brief"]));
        let plan = r.plan().unwrap();
        assert_eq!(plan.wave_of("m16_follow_up"), Some(6));
        assert_eq!(
            plan.critical_path(),
            vec![
                "m01_company_context",
                "m04_financials",
                "m09_executives",
                "m10_buying_committee",
                "m15_strategic_brief",
                "m16_follow_up"
            ]
        );
    }

    #[test]
    fn design_doc_four_waves_when_each_wave_depends_on_the_previous() {
        let w1 = ["m01", "m02", "m03", "m04"];
        let w2 = ["m05", "m06", "m07"];
        let w3 = ["m08", "m09", "m10", "m11"];
        let w4 = ["m12", "m13", "m14", "m15"];
        let mut r = Registry::new();
        for id in w4 {
            r.register(module(id, &w3));
        }
        for id in w3 {
            r.register(module(id, &w2));
        }
        for id in w2 {
            r.register(module(id, &w1));
        }
        for id in w1 {
            r.register(module(id, &[]));
        }
        let plan = r.plan().unwrap();
        let expect: Vec<Vec<String>> = [&w1[..], &w2[..], &w3[..], &w4[..]]
            .iter()
            .map(|w| w.iter().map(|s| s.to_string()).collect())
            .collect();
        assert_eq!(plan.waves(), expect);
        assert_eq!(plan.critical_path(), vec!["m01", "m05", "m08", "m12"]);
    }

    #[test]
    fn select_keeps_transitive_dependencies() {
        let plan = fifteen().plan().unwrap();
        let sub = plan.select(&["m10_buying_committee".to_string()]).unwrap();
        assert_eq!(
            sub.ids(),
            vec![
                "m01_company_context",
                "m06_hiring",
                "m04_financials",
                "m09_executives",
                "m10_buying_committee"
            ]
        );
        assert_eq!(sub.wave_of("m10_buying_committee"), Some(4));
        assert!(sub.module("m15_strategic_brief").is_none());
        assert_eq!(sub.dependents("m06_hiring"), vec!["m10_buying_committee"]);

        let two = plan
            .select(&["m05_competitors".to_string(), "m04_financials".to_string()])
            .unwrap();
        assert_eq!(
            two.waves(),
            vec![
                vec!["m01_company_context"],
                vec!["m04_financials"],
                vec!["m05_competitors"]
            ]
        );
        assert_eq!(plan.select(&[]).unwrap().len(), 0);
        assert_eq!(
            plan.select(&["m05_competitors".into(), "m99".into()])
                .unwrap_err(),
            PlanError::UnknownModule("m99".into())
        );
        assert_eq!(
            PlanError::UnknownModule("m99".into()).to_string(),
            "unknown module m99 (see `pforge plan` for the list)"
        );
    }

    #[test]
    fn dot_output_has_clusters_and_edges() {
        let plan = registry(&[("b", &["a"]), ("a", &[]), ("c", &["a", "b"])])
            .plan()
            .unwrap();
        let dot = plan.to_dot();
        let expected = "digraph plan {
  rankdir=LR;
  node [shape=box];
  subgraph cluster_w1 {
    label=\"wave 1\";
    \"a\" [label=\"a\\nTitle of a\"];
  }
  subgraph cluster_w2 {
    label=\"wave 2\";
    \"b\" [label=\"b\\nTitle of b\"];
  }
  subgraph cluster_w3 {
    label=\"wave 3\";
    \"c\" [label=\"c\\nTitle of c\"];
  }
  \"a\" -> \"b\";
  \"a\" -> \"c\";
  \"b\" -> \"c\";
}
";
        assert_eq!(dot, expected);
        assert_eq!(dot_escape("say \"hi\"\\\n"), "say \\\"hi\\\"\\\\\\n");

        let big = fifteen().plan().unwrap().to_dot();
        for w in 1..=5 {
            assert!(big.contains(&format!("subgraph cluster_w{w} {{")), "{big}");
            assert!(big.contains(&format!("label=\"wave {w}\";")));
        }
        assert!(big.contains("\"m10_buying_committee\" -> \"m15_strategic_brief\";"));
        assert!(!big.contains("cluster_w6"));
        // 45 dependencies since M13 reads M08's paid head count.
        assert!(big.contains("\"m08_investors\" -> \"m13_icp_priority\";"));
        assert_eq!(big.matches(" -> ").count(), 45);
    }

    #[test]
    fn json_output_has_the_documented_shape() {
        let plan = registry(&[("b", &["a"]), ("a", &[]), ("a2", &[])])
            .plan()
            .unwrap();
        assert_eq!(
            plan.to_json(),
            json!({"waves": [
                {"wave": 1, "modules": [
                    {"id": "a", "title": "Title of a", "dependencies": [], "providers": ["a_provider"]},
                    {"id": "a2", "title": "Title of a2", "dependencies": [], "providers": ["a2_provider"]},
                ]},
                {"wave": 2, "modules": [
                    {"id": "b", "title": "Title of b", "dependencies": ["a"], "providers": ["b_provider"]},
                ]},
            ]})
        );
    }

    /// A random DAG over `n` modules: module j may depend on any i < j. Returns the
    /// dependency lists by index.
    fn dag(min: usize) -> impl Strategy<Value = Vec<Vec<usize>>> {
        (min..25).prop_flat_map(|n| {
            prop::collection::vec(prop::collection::vec(any::<prop::sample::Index>(), 0..4), n)
                .prop_map(move |picks| {
                    picks
                        .into_iter()
                        .enumerate()
                        .map(|(j, ps)| {
                            let mut deps: Vec<usize> = if j == 0 {
                                vec![]
                            } else {
                                ps.iter().map(|p| p.index(j)).collect()
                            };
                            deps.sort_unstable();
                            deps.dedup();
                            deps
                        })
                        .collect()
                })
        })
    }

    fn name(i: usize) -> String {
        // Ids deliberately not in index order, so id order and index order disagree.
        format!("m{:02}", (i * 7 + 3) % 100)
    }

    fn build(deps: &[Vec<usize>], order: &[usize]) -> Registry {
        let mut r = Registry::new();
        for &j in order {
            let names: Vec<String> = deps[j].iter().map(|&i| name(i)).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            r.register(module(&name(j), &refs));
        }
        r
    }

    fn shuffled_dag(min: usize) -> impl Strategy<Value = (Vec<Vec<usize>>, Vec<usize>)> {
        dag(min).prop_flat_map(|deps| {
            let order: Vec<usize> = (0..deps.len()).collect();
            (Just(deps), Just(order).prop_shuffle())
        })
    }

    proptest! {
        #[test]
        fn random_dags_layer_correctly((deps, order) in shuffled_dag(1)) {
            let plan = build(&deps, &order).plan().unwrap();
            prop_assert_eq!(plan.len(), deps.len());
            let position: HashMap<String, usize> =
                plan.ids().into_iter().enumerate().map(|(p, id)| (id, p)).collect();
            for (j, ds) in deps.iter().enumerate() {
                let wj = plan.wave_of(&name(j)).unwrap();
                let deepest = ds.iter().map(|&i| plan.wave_of(&name(i)).unwrap()).max().unwrap_or(0);
                prop_assert_eq!(wj, deepest + 1, "longest-path layering");
                for &i in ds {
                    prop_assert!(position[&name(i)] < position[&name(j)], "topological order");
                    prop_assert!(plan.dependents(&name(i)).contains(&name(j)));
                }
            }
            // Same plan whatever the registration order.
            let canonical: Vec<usize> = (0..deps.len()).collect();
            let again = build(&deps, &canonical).plan().unwrap();
            prop_assert_eq!(plan.ids(), again.ids());
            prop_assert_eq!(plan.to_dot(), again.to_dot());
            // The critical path is a real chain as long as the plan is deep.
            let cp = plan.critical_path();
            prop_assert_eq!(cp.len(), plan.wave_count());
            for pair in cp.windows(2) {
                let m = plan.module(&pair[1]).unwrap();
                prop_assert!(m.spec().dependencies.contains(&pair[0]));
            }
            // Waves partition the modules.
            prop_assert_eq!(plan.waves().concat().len(), deps.len());
        }

        #[test]
        fn select_is_closed_under_dependencies((deps, order) in shuffled_dag(1), pick in any::<prop::sample::Index>()) {
            let plan = build(&deps, &order).plan().unwrap();
            let target = name(pick.index(deps.len()));
            let sub = plan.select(std::slice::from_ref(&target)).unwrap();
            prop_assert!(sub.module(&target).is_some());
            for m in sub.modules() {
                for d in &m.spec().dependencies {
                    prop_assert!(sub.module(d).is_some());
                }
                prop_assert_eq!(sub.wave_of(&m.spec().id), plan.wave_of(&m.spec().id));
            }
        }

        #[test]
        fn back_edges_are_reported_as_real_cycles(
            (deps, order) in shuffled_dag(2),
            start in any::<prop::sample::Index>(),
            steps in prop::collection::vec(any::<prop::sample::Index>(), 1..6),
        ) {
            // Pick a module with dependencies, walk down its dependency chain, then make the
            // bottom of the walk depend on the top: a cycle.
            // At least one edge: the last module always depends on the first.
            let mut deps = deps;
            let last = deps.len() - 1;
            if !deps[last].contains(&0) {
                deps[last].insert(0, 0);
            }
            let with_deps: Vec<usize> = (0..deps.len()).filter(|&j| !deps[j].is_empty()).collect();
            let top = with_deps[start.index(with_deps.len())];
            let mut bottom = top;
            for s in &steps {
                if deps[bottom].is_empty() { break; }
                bottom = deps[bottom][s.index(deps[bottom].len())];
            }
            prop_assert!(bottom != top);
            let mut cyclic = deps.clone();
            cyclic[bottom].push(top);

            let err = build(&cyclic, &order).plan().unwrap_err();
            let PlanError::Cycle(path) = err else {
                return Err(TestCaseError::fail(format!("expected a cycle, got {err}")));
            };
            prop_assert!(path.len() >= 3, "{:?}", path);
            prop_assert_eq!(path.first(), path.last());
            let index_of = |id: &str| (0..cyclic.len()).find(|&i| name(i) == id).unwrap();
            for pair in path.windows(2) {
                let (a, b) = (index_of(&pair[0]), index_of(&pair[1]));
                prop_assert!(cyclic[a].contains(&b), "{} does not depend on {} in {:?}", pair[0], pair[1], path);
            }
            // No module repeats inside the cycle.
            let inner: HashSet<&String> = path[..path.len() - 1].iter().collect();
            prop_assert_eq!(inner.len(), path.len() - 1);
        }
    }
}
