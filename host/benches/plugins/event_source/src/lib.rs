//! Benchmark plugin: `POST /api/plugin/event_source {"command": "fire",
//! "count": N, "handlers": H}` fires `start` (`{"count": N}`) and N `tick`
//! events (`{"n": i}`, OctoPrint's anchor payload) from the request's
//! thread; each `event_counter` calls the helper `done` once it counted all
//! N. `GET /api/plugin/event_source` answers the run: `elapsed_s` from the
//! first event fired to the last handler done (`null` until then), and
//! `dropped`, the events dropped for handlers that fell behind.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use plinth_sdk::prelude::*;

#[derive(Default)]
struct Run {
    handlers: u64,
    done: u64,
    dropped: u64,
    started: Option<Instant>,
    fired_s: Option<f64>,
    elapsed_s: Option<f64>,
}

pub struct EventSource {
    host: Host,
    run: Mutex<Run>,
}

impl EventSource {
    fn dropped(&self, count: &Value) -> PluginResult<Value> {
        self.run.lock().unwrap().dropped += count.as_u64().unwrap_or(0);
        Ok(Value::Null)
    }

    fn done(&self, _: &Value) -> PluginResult<Value> {
        let mut run = self.run.lock().unwrap();
        run.done += 1;
        if run.done == run.handlers {
            run.elapsed_s = run.started.map(|t| t.elapsed().as_secs_f64());
        }
        Ok(Value::Null)
    }
}

impl Plugin for EventSource {
    fn new(host: Host) -> Self {
        Self {
            host,
            run: Mutex::default(),
        }
    }

    fn host(&self) -> &Host {
        &self.host
    }

    fn register(&self, registry: &mut Registry<Self>) {
        registry
            .helper("done", Self::done)
            .helper("dropped", Self::dropped);
    }
}

impl SimpleApiPlugin for EventSource {
    fn get_api_commands(&self) -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([("fire".into(), vec!["count".into(), "handlers".into()])])
    }

    fn on_api_command(&self, _: &str, data: &Value) -> PluginResult<Option<Response>> {
        let count = data["count"].as_u64().unwrap_or(0);
        let started = Instant::now();
        *self.run.lock().unwrap() = Run {
            handlers: data["handlers"].as_u64().unwrap_or(0),
            started: Some(started),
            ..Run::default()
        };
        self.host.fire_event("start", json!({ "count": count }))?;
        for n in 0..count {
            self.host.fire_event("tick", json!({ "n": n }))?;
        }
        self.run.lock().unwrap().fired_s = Some(started.elapsed().as_secs_f64());
        Ok(None)
    }

    fn on_api_get(&self, _: &Request) -> PluginResult<Option<Response>> {
        let run = self.run.lock().unwrap();
        Ok(Some(Response::json(&json!({
            "handlers": run.handlers,
            "done": run.done,
            "dropped": run.dropped,
            "fired_s": run.fired_s,
            "elapsed_s": run.elapsed_s,
        }))))
    }
}

export_plugin! {
    plugin: EventSource,
    name: "Event source (benchmark)",
    mixins: [SimpleApi],
}
