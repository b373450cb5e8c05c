//! The other side: `plinth __run-plugin <library> --id <id> --lanes <socket>`,
//! the process an isolated plugin runs in. Its standard input is the channel
//! to the host; the host's calls come in on lanes, each served by a thread of
//! its own, and the plugin's service calls made while serving one go back on
//! the same lane.
//! It maps the library exactly as the host would (same ABI, same checks),
//! creates the plugin object with a handle whose services are the host's,
//! answered over the channel, and runs the host's calls into the object.
//! It ends when the host closes the channel.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use plinth_abi::vtable::CallOutcome;

use super::frame::{batch, control};
use super::lane::Lane;
use super::library::LoadRefusal;
use super::peer::{Handler, Peer};
use crate::plugins::ffi::{Endpoint, InProcess};
use crate::plugins::metadata::{self, Refusal};
use crate::plugins::transport::Transport;

/// Runs the plugin at `library` (identifier `id`) for the host at the other
/// end of standard input; returns the exit status.
pub fn run(library: &Path, id: &str, lanes: &Path) -> i32 {
    // A fault names the plugin call it happened in, on standard error, where the host reads it.
    crate::plugins::ffi::crash::install_on_stderr();
    let listener = match std::os::unix::net::UnixListener::bind(lanes) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "plinth {}: cannot listen on {}: {e}",
                super::process::RUNNER_COMMAND,
                lanes.display()
            );
            return 2;
        }
    };
    let channel = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => UnixStream::from(fd),
        Err(e) => {
            eprintln!(
                "plinth {}: standard input is not the host's channel: {e}",
                super::process::RUNNER_COMMAND
            );
            return 2;
        }
    };
    let writer = match channel.try_clone() {
        Ok(w) => w,
        Err(e) => {
            eprintln!(
                "plinth {}: cannot use the channel: {e}",
                super::process::RUNNER_COMMAND
            );
            return 2;
        }
    };
    let peer = Peer::new(writer);
    let runner = Arc::new_cyclic(|me| Runner {
        id: id.to_owned(),
        path: library.to_owned(),
        peer: peer.clone(),
        library: Mutex::new(None),
        object: Mutex::new(None),
        me: me.clone(),
    });
    let serving = runner.clone();
    let accepted = std::thread::Builder::new()
        .name("plugin-lanes".into())
        .spawn(move || {
            // An error (say the plugin used up its file descriptors) costs
            // that lane only: the host's call on it ends (by its budget when
            // the lane was never taken), and the next one tries again.
            let mut last_said = None;
            for stream in listener.incoming() {
                let lane = match stream.and_then(|s| Lane::new(s, 0)) {
                    Ok(lane) => lane,
                    Err(e) => {
                        // Said once a second at most (the host logs it).
                        if last_said.is_none_or(|t: std::time::Instant| t.elapsed().as_secs() >= 1)
                        {
                            eprintln!(
                                "plinth {}: a lane failed: {e}",
                                super::process::RUNNER_COMMAND
                            );
                            last_said = Some(std::time::Instant::now());
                        }
                        std::thread::sleep(std::time::Duration::from_millis(10));
                        continue;
                    }
                };
                let runner = serving.clone();
                let spawned = std::thread::Builder::new()
                    .name("plugin-lane".into())
                    .spawn(move || lane.serve(&*runner));
                if let Err(e) = spawned {
                    eprintln!(
                        "plinth {}: no thread for a lane: {e}",
                        super::process::RUNNER_COMMAND
                    );
                }
            }
        });
    if let Err(e) = accepted {
        eprintln!(
            "plinth {}: no thread for lanes: {e}",
            super::process::RUNNER_COMMAND
        );
        return 2;
    }
    let served = peer.serve(channel, runner);
    // The host is gone or done: the lane socket goes with this process.
    let _ = std::fs::remove_file(lanes);
    if let Some(folder) = lanes.parent() {
        let _ = std::fs::remove_dir(folder);
    }
    match served {
        Ok(()) => 0,
        Err(e) => {
            eprintln!(
                "plinth {}: the channel broke: {e}",
                super::process::RUNNER_COMMAND
            );
            1
        }
    }
}

/// The plugin in this process.
struct Runner {
    id: String,
    path: PathBuf,
    peer: Arc<Peer>,
    library: Mutex<Option<Arc<InProcess>>>,
    object: Mutex<Option<Arc<dyn Transport>>>,
    me: Weak<Runner>,
}

/// The host's services as the plugin's handle reaches them: on the lane
/// of the call being served, or, from the plugin's own threads, over the
/// channel.
struct Host {
    peer: Arc<Peer>,
    runner: Weak<Runner>,
}

impl Endpoint for Host {
    fn log(&self, level: u8, message: &str) {
        self.peer.log(level, message);
    }

    fn serve(&self, service: u32, args: &[u8]) -> CallOutcome {
        let answer = match (Lane::serving(), self.runner.upgrade()) {
            (Some(lane), Some(runner)) => lane.call(service, args, &*runner).ok(),
            _ => self.peer.call(service, args).ok(),
        };
        answer.unwrap_or_else(|| CallOutcome::Error("the host is gone".into()))
    }
}

impl Handler for Runner {
    fn call(&self, code: u32, body: Vec<u8>) -> CallOutcome {
        match code {
            control::LOAD => self.load(),
            control::INSTANTIATE => self.instantiate(),
            control::EMBEDDED_FILE => {
                let library = self.library.lock().unwrap().clone();
                let path = String::from_utf8_lossy(&body);
                match library.and_then(|l| l.file(&path)) {
                    Some(bytes) => CallOutcome::Ok(bytes.to_vec().into()),
                    None => CallOutcome::Unsupported,
                }
            }
            control::BATCH => {
                let object = self.object.lock().unwrap().clone();
                match (object, batch::decode_calls(&body)) {
                    (Some(object), Some((method, args))) => {
                        let lane = Lane::serving();
                        let outcomes = args
                            .into_iter()
                            .enumerate()
                            .map(|(i, arg)| {
                                // The host times and names each call of the batch.
                                if let (true, Some(lane)) = (i > 0, &lane) {
                                    lane.progress(method, arg);
                                }
                                object
                                    .call(method, arg)
                                    .unwrap_or_else(|f| CallOutcome::Error(f.to_string().into()))
                            })
                            .collect();
                        CallOutcome::Ok(batch::encode_outcomes(outcomes).into())
                    }
                    (None, _) => CallOutcome::Error("the plugin object does not exist".into()),
                    (_, None) => CallOutcome::Error("a batch cut short".into()),
                }
            }
            control::DROP => {
                let object = self.object.lock().unwrap().take();
                drop(object);
                CallOutcome::Ok(Default::default())
            }
            method => {
                let object = self.object.lock().unwrap().clone();
                match object {
                    Some(object) => object
                        .call(method, &body)
                        .unwrap_or_else(|f| CallOutcome::Error(f.to_string().into())),
                    None => CallOutcome::Error("the plugin object does not exist".into()),
                }
            }
        }
    }

    fn log(&self, _level: u8, _message: &str) {}
}

impl Runner {
    fn load(&self) -> CallOutcome {
        let loaded = metadata::read(&self.path)
            .and_then(|meta| crate::plugins::loader::load_in_process(&self.path, meta.abi.1));
        match loaded {
            Ok(library) => {
                *self.library.lock().unwrap() = Some(Arc::new(library));
                CallOutcome::Ok(Default::default())
            }
            Err(refusal) => {
                let refusal = match refusal {
                    Refusal::Incompatible(message) => LoadRefusal {
                        incompatible: true,
                        message,
                    },
                    Refusal::Failed(message) => LoadRefusal {
                        incompatible: false,
                        message,
                    },
                };
                CallOutcome::Error(
                    serde_json::to_string(&refusal)
                        .expect("a refusal encodes")
                        .into(),
                )
            }
        }
    }

    fn instantiate(&self) -> CallOutcome {
        let Some(library) = self.library.lock().unwrap().clone() else {
            return CallOutcome::Error("the library is not loaded".into());
        };
        let host = Arc::new(Host {
            peer: self.peer.clone(),
            runner: self.me.clone(),
        });
        match library.instantiate_with(&host, &self.id) {
            Ok(object) => {
                *self.object.lock().unwrap() = Some(Arc::from(object));
                CallOutcome::Ok(Default::default())
            }
            Err(e) => CallOutcome::Error(e.to_string().into()),
        }
    }
}
