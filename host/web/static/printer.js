/*
 * Plinth's printer workflow in the default page, served at /static/printer.js:
 * the Connection panel (port, baud rate, profile, connect/disconnect), the
 * State panel's Print / Pause / Cancel (a cancel asks once more), the Files
 * panel (upload by choosing or dropping files, with a progress bar; search,
 * sort, select, print, download, delete), the Temperature tab (targets,
 * presets, a live chart of actual and target), the Control tab's jog, home
 * and extrude, and the Terminal tab (send commands, the live log).
 *
 * It is a view model like a plugin's (see plinth.js): the push channel's
 * current data and events reach it through fromCurrentData and onEvent….
 */
(function () {
    "use strict";

    const $ = (id) => document.getElementById(id);
    const api = (method, url, data) => window.OctoPrint.request(method, url, data);

    /** A readable size: 1.2 MB. */
    function size(bytes) {
        if (typeof bytes !== "number") return "";
        const units = ["B", "KB", "MB", "GB"];
        let n = bytes;
        let u = 0;
        while (n >= 1000 && u < units.length - 1) { n /= 1000; u += 1; }
        return `${n < 10 && u ? n.toFixed(1) : Math.round(n)} ${units[u]}`;
    }

    /** h:mm:ss for seconds. */
    function clock(seconds) {
        if (typeof seconds !== "number" || !isFinite(seconds)) return "";
        const s = Math.max(0, Math.round(seconds));
        const h = Math.floor(s / 3600);
        const m = Math.floor((s % 3600) / 60);
        const pad = (x) => String(x).padStart(2, "0");
        return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
    }

    function option(select, value, label, selected) {
        const o = document.createElement("option");
        o.value = value;
        o.textContent = label;
        o.selected = !!selected;
        select.append(o);
    }

    function fail(e) {
        const text = (e && e.error) || String(e);
        const box = $("page_messages");
        if (!box) return;
        const message = document.createElement("div");
        message.className = "message message-error";
        message.textContent = text;
        box.append(message);
        setTimeout(() => message.remove(), 8000);
    }

    function PrinterViewModel() {
        const self = this;
        self.flags = {};
        self.files = [];
        self.samples = [];
        self.confirmCancelUntil = 0;

        // ----- connection -----
        self.loadConnection = function () {
            return api("GET", "/api/connection").then((c) => {
                const port = $("connection_port");
                const baud = $("connection_baudrate");
                const profile = $("connection_profile");
                if (!port) return;
                port.textContent = "";
                baud.textContent = "";
                profile.textContent = "";
                const current = c.current || {};
                const options = c.options || {};
                (options.ports || []).forEach((p) => option(port, p, p, p === (current.port || options.portPreference)));
                (options.baudrates || []).forEach((b) => option(baud, b, b, b === (current.baudrate || options.baudratePreference)));
                (options.printerProfiles || []).forEach((p) => option(profile, p.id, p.name, p.id === (current.printerProfile || options.printerProfilePreference)));
                self.showConnection(current.state || "Offline");
                return current.state || "Offline";
            }).catch(() => "Offline");
        };
        self.showConnection = function (state) {
            const button = $("connection_toggle");
            if (!button) return;
            const offline = /^(Offline|Closed|Error)/.test(state || "Offline");
            button.textContent = offline ? "Connect" : "Disconnect";
            button.dataset.action = offline ? "connect" : "disconnect";
            ["connection_port", "connection_baudrate", "connection_profile"].forEach((id) => { if ($(id)) $(id).disabled = !offline; });
        };
        self.toggleConnection = function () {
            const button = $("connection_toggle");
            const body = button.dataset.action === "disconnect"
                ? { command: "disconnect" }
                : { command: "connect", port: $("connection_port").value, baudrate: Number($("connection_baudrate").value), printerProfile: $("connection_profile").value };
            api("POST", "/api/connection", body).then(() => self.loadConnection()).catch(fail);
        };

        // ----- job -----
        self.showJob = function (data) {
            const flags = (data.state && data.state.flags) || {};
            self.flags = flags;
            const job = data.job || {};
            const progress = data.progress || {};
            if ($("job_time")) $("job_time").textContent = clock(progress.printTime);
            const selected = !!(job.file && job.file.name);
            const printing = !!(flags.printing || flags.pausing || flags.cancelling);
            if ($("job_print")) $("job_print").disabled = !(flags.operational && flags.ready && selected && !printing && !flags.paused);
            if ($("job_pause")) {
                $("job_pause").disabled = !(flags.printing || flags.paused);
                $("job_pause").textContent = flags.paused ? "Resume" : "Pause";
            }
            if ($("job_cancel")) $("job_cancel").disabled = !(flags.printing || flags.paused || flags.pausing);
            if (data.state && data.state.text) self.showConnection(data.state.text);
        };
        self.jobCommand = function (command, extra) {
            return api("POST", "/api/job", Object.assign({ command }, extra || {})).catch(fail);
        };
        self.cancel = function () {
            const button = $("job_cancel");
            if (Date.now() > self.confirmCancelUntil) {
                // Asked once more: a second click within five seconds cancels.
                self.confirmCancelUntil = Date.now() + 5000;
                button.textContent = "Really cancel?";
                setTimeout(() => { button.textContent = "Cancel"; }, 5000);
                return;
            }
            self.confirmCancelUntil = 0;
            button.textContent = "Cancel";
            self.jobCommand("cancel");
        };

        // ----- files -----
        self.loadFiles = function () {
            return api("GET", "/api/files?recursive=true").then((answer) => {
                const flat = [];
                const walk = (entries) => (entries || []).forEach((e) => {
                    if (e.type === "folder") walk(e.children);
                    else flat.push(e);
                });
                walk(answer.files);
                self.files = flat;
                if ($("files_usage") && typeof answer.free === "number") {
                    $("files_usage").textContent = `${size(answer.free)} free of ${size(answer.total)}`;
                }
                self.showFiles();
            }).catch(() => {});
        };
        self.showFiles = function () {
            const list = $("files_list");
            if (!list) return;
            const needle = ($("files_search").value || "").toLowerCase();
            const by = $("files_sort").value;
            const files = self.files
                .filter((f) => f.path.toLowerCase().includes(needle))
                .sort((a, b) => by === "size" ? (b.size || 0) - (a.size || 0)
                    : by === "date" ? (b.date || 0) - (a.date || 0)
                        : a.path.localeCompare(b.path));
            // Unchanged: the list stays as it is (a click on it is not lost).
            const signature = JSON.stringify(files);
            if (signature === self.shownFiles && list.children.length === files.length) return;
            self.shownFiles = signature;
            list.textContent = "";
            for (const f of files) {
                const li = document.createElement("li");
                li.className = "file-entry";
                li.dataset.path = f.path;
                const name = document.createElement("span");
                name.className = "file-name";
                name.textContent = f.display || f.name;
                name.title = f.path;
                const info = document.createElement("span");
                info.className = "file-info muted";
                const estimate = f.gcodeAnalysis && f.gcodeAnalysis.estimatedPrintTime;
                info.textContent = [size(f.size), estimate ? "≈ " + clock(estimate) : ""].filter(Boolean).join(" · ");
                const actions = document.createElement("span");
                actions.className = "file-actions";
                const button = (label, action) => {
                    const b = document.createElement("button");
                    b.type = "button";
                    b.textContent = label;
                    b.dataset.action = action;
                    actions.append(b);
                };
                if (f.typePath && f.typePath[0] === "machinecode") {
                    button("Load", "select");
                    button("Print", "print");
                } else if (f.typePath && f.typePath[0] === "model") {
                    button("Slice", "slice");
                }
                const download = document.createElement("a");
                download.href = (f.refs && f.refs.download) || "#";
                download.textContent = "Download";
                download.className = "file-download";
                actions.append(download);
                button("Delete", "delete");
                li.append(name, info, actions);
                list.append(li);
            }
        };
        self.fileAction = function (path, action) {
            const url = "/api/files/local/" + path.split("/").map(encodeURIComponent).join("/");
            if (action === "slice") return self.openSlice(path);
            if (action === "delete") return api("DELETE", url).then(() => self.loadFiles()).catch(fail);
            return api("POST", url, { command: "select", print: action === "print" }).catch(fail);
        };
        self.upload = function (files) {
            const bar = $("files_upload_progress");
            const queue = Array.from(files || []);
            const next = () => {
                const file = queue.shift();
                if (!file) { bar.hidden = true; self.loadFiles(); return; }
                const form = new FormData();
                form.append("file", file, file.name);
                const xhr = new XMLHttpRequest();
                xhr.open("POST", "/api/files/local");
                const token = (document.cookie.match(/(?:^|;\s*)plinth_csrf=([^;]*)/) || [])[1];
                if (token) xhr.setRequestHeader("X-CSRF-Token", decodeURIComponent(token));
                xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.round(100 * e.loaded / e.total); };
                xhr.onload = () => {
                    if (xhr.status >= 300) {
                        let error = xhr.statusText;
                        try { error = JSON.parse(xhr.responseText).error || error; } catch (e) { /* not JSON */ }
                        fail({ error: `${file.name}: ${error}` });
                    }
                    next();
                };
                xhr.onerror = () => { fail({ error: `${file.name}: the upload failed` }); next(); };
                bar.hidden = false;
                bar.value = 0;
                xhr.send(form);
            };
            next();
        };

        // ----- slicing -----
        self.slicers = {};
        self.openSlice = function (path) {
            const dialog = $("slice_dialog");
            if (!dialog) return;
            $("slice_source").textContent = path;
            $("slice_error").textContent = "";
            dialog.dataset.path = path;
            const stem = path.replace(/\.[^./]+$/, "");
            $("slice_destination").value = stem + ".gcode";
            Promise.all([api("GET", "/api/slicing"), api("GET", "/api/printerprofiles")]).then(([slicers, profiles]) => {
                self.slicers = slicers || {};
                const slicer = $("slice_slicer");
                slicer.textContent = "";
                Object.values(self.slicers).forEach((s) => option(slicer, s.key, s.displayName || s.key));
                const printer = $("slice_printer_profile");
                printer.textContent = "";
                Object.values((profiles && profiles.profiles) || {}).forEach((p) => option(printer, p.id, p.name, p.current));
                self.fillSlicingProfiles();
                if (!dialog.open) dialog.showModal();
            }).catch(fail);
        };
        self.fillSlicingProfiles = function () {
            const chosen = self.slicers[$("slice_slicer").value] || {};
            const select = $("slice_profile");
            select.textContent = "";
            Object.values(chosen.profiles || {}).forEach((p) => option(select, p.key, p.displayName || p.key, p.default));
        };
        self.slice = function () {
            const dialog = $("slice_dialog");
            const path = dialog.dataset.path;
            const url = "/api/files/local/" + path.split("/").map(encodeURIComponent).join("/");
            const body = {
                command: "slice",
                slicer: $("slice_slicer").value,
                profile: $("slice_profile").value || undefined,
                printerProfile: $("slice_printer_profile").value || undefined,
                gcode: $("slice_destination").value.trim() || undefined,
                print: $("slice_print").checked,
            };
            api("POST", url, body).then(() => dialog.close()).catch((e) => {
                $("slice_error").textContent = (e && e.error) || String(e);
            });
        };

        // ----- temperatures -----
        self.showTemperatures = function (sample) {
            const body = document.querySelector("#temperature_table tbody");
            if (!body || !sample) return;
            for (const [heater, reading] of Object.entries(sample)) {
                if (heater === "time" || !reading || typeof reading !== "object") continue;
                let row = body.querySelector(`tr[data-heater="${heater}"]`);
                if (!row) {
                    row = document.createElement("tr");
                    row.dataset.heater = heater;
                    row.innerHTML = "<th></th><td class='t-actual'></td><td class='t-target'></td>" +
                        "<td><input type='number' min='0' step='1' class='t-input' aria-label='Target'> <button type='button' class='t-set'>Set</button> <button type='button' class='t-off'>Off</button></td>";
                    row.querySelector("th").textContent = heater;
                    body.append(row);
                }
                row.querySelector(".t-actual").textContent = typeof reading.actual === "number" ? reading.actual.toFixed(1) + " °C" : "";
                row.querySelector(".t-target").textContent = typeof reading.target === "number" ? reading.target.toFixed(0) + " °C" : "";
            }
        };
        self.setTarget = function (heater, target) {
            const url = heater === "bed" ? "/api/printer/bed" : heater === "chamber" ? "/api/printer/chamber" : "/api/printer/tool";
            const body = heater.startsWith("tool") ? { command: "target", targets: { [heater]: target } } : { command: "target", target };
            return api("POST", url, body).catch(fail);
        };
        self.drawChart = function () {
            const canvas = $("temperature_chart");
            if (!canvas || !canvas.getContext || !self.samples.length) return;
            const ctx = canvas.getContext("2d");
            const w = canvas.width;
            const hgt = canvas.height;
            ctx.clearRect(0, 0, w, hgt);
            const heaters = Object.keys(self.samples[self.samples.length - 1]).filter((k) => k !== "time");
            let max = 50;
            for (const s of self.samples) for (const k of heaters) if (s[k]) max = Math.max(max, s[k].actual || 0, s[k].target || 0);
            max = Math.ceil(max / 50) * 50;
            const t0 = self.samples[0].time;
            const span = Math.max(1, self.samples[self.samples.length - 1].time - t0);
            const colors = ["#d9480f", "#1971c2", "#2b8a3e", "#862e9c"];
            heaters.forEach((k, i) => {
                for (const [field, dash] of [["actual", []], ["target", [4, 4]]]) {
                    ctx.beginPath();
                    ctx.setLineDash(dash);
                    ctx.strokeStyle = colors[i % colors.length];
                    self.samples.forEach((s, j) => {
                        const v = s[k] && s[k][field];
                        if (typeof v !== "number") return;
                        const x = ((s.time - t0) / span) * w;
                        const y = hgt - (v / max) * hgt;
                        if (j === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
                    });
                    ctx.stroke();
                }
            });
            ctx.setLineDash([]);
            canvas.dataset.samples = String(self.samples.length);
        };
        self.loadPresets = function () {
            const box = $("temperature_presets");
            const profiles = (window.OctoPrint && self.settings && self.settings.settings.temperature && self.settings.settings.temperature.profiles) || [];
            if (!box) return;
            box.textContent = "";
            for (const p of profiles) {
                const b = document.createElement("button");
                b.type = "button";
                b.textContent = `${p.name} (${p.extruder}/${p.bed} °C)`;
                b.addEventListener("click", () => { self.setTarget("tool0", p.extruder); self.setTarget("bed", p.bed); });
                box.append(b);
            }
        };

        // ----- terminal -----
        self.appendLog = function (lines) {
            const log = $("terminal_log");
            if (!log || !lines || !lines.length) return;
            const hide = $("terminal_hide_temperatures") && $("terminal_hide_temperatures").checked;
            const shown = hide ? lines.filter((l) => !/^(Send: (N\d+ )?M105|Recv: (ok )?T:)/.test(l)) : lines;
            if (!shown.length) return;
            log.textContent += shown.join("\n") + "\n";
            const text = log.textContent;
            if (text.length > 200000) log.textContent = text.slice(text.length - 150000);
            if ($("terminal_autoscroll").checked) log.scrollTop = log.scrollHeight;
        };

        // ----- wiring -----
        const on = (id, event, fn) => { const el = $(id); if (el) el.addEventListener(event, fn); };
        on("connection_toggle", "click", () => self.toggleConnection());
        on("job_print", "click", () => self.jobCommand("start"));
        on("job_pause", "click", () => self.jobCommand("pause", { action: "toggle" }));
        on("job_cancel", "click", () => self.cancel());
        on("files_search", "input", () => self.showFiles());
        on("files_sort", "change", () => self.showFiles());
        on("files_input", "change", (e) => { self.upload(e.target.files); e.target.value = ""; });
        on("files_list", "click", (e) => {
            const b = e.target.closest("button[data-action]");
            const li = e.target.closest("li[data-path]");
            if (b && li) self.fileAction(li.dataset.path, b.dataset.action);
        });
        const drop = $("files_drop");
        if (drop) {
            drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("dragging"); });
            drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
            drop.addEventListener("drop", (e) => {
                e.preventDefault();
                drop.classList.remove("dragging");
                self.upload(e.dataTransfer && e.dataTransfer.files);
            });
        }
        on("slice_slicer", "change", () => self.fillSlicingProfiles());
        on("slice_cancel", "click", () => $("slice_dialog").close());
        on("slice_form", "submit", (e) => { e.preventDefault(); self.slice(); });
        on("temperature_table", "click", (e) => {
            const row = e.target.closest("tr[data-heater]");
            if (!row) return;
            if (e.target.classList.contains("t-set")) {
                const value = Number(row.querySelector(".t-input").value);
                if (isFinite(value)) self.setTarget(row.dataset.heater, value);
            } else if (e.target.classList.contains("t-off")) {
                self.setTarget(row.dataset.heater, 0);
            }
        });
        on("terminal_form", "submit", (e) => {
            e.preventDefault();
            const input = $("terminal_command");
            const command = input.value.trim();
            if (!command) return;
            api("POST", "/api/printer/command", { commands: [command] }).then(() => { input.value = ""; }).catch(fail);
        });
        on("control_home", "click", () => api("POST", "/api/printer/printhead", { command: "home", axes: ["x", "y", "z"] }).catch(fail));
        document.querySelectorAll("#control_jog [data-jog]").forEach((b) => b.addEventListener("click", () => {
            const [axis, amount] = b.dataset.jog.split(":");
            api("POST", "/api/printer/printhead", { command: "jog", [axis]: Number(amount) }).catch(fail);
        }));
        const extrude = (sign) => () => {
            const amount = Number($("control_extrude_amount").value) * sign;
            api("POST", "/api/printer/tool", { command: "extrude", amount }).catch(fail);
        };
        on("control_extrude", "click", extrude(1));
        on("control_retract", "click", extrude(-1));

        // ----- view model callbacks -----
        /** The temperature history so far (asked only of a connected printer: else 409). */
        self.loadHistory = function () {
            api("GET", "/api/printer?history=true&limit=300").then((p) => {
                self.samples = (p.temperature && p.temperature.history) || [];
                self.drawChart();
                const last = self.samples[self.samples.length - 1];
                if (last) self.showTemperatures(last);
            }).catch(() => {});
        };
        self.onStartupComplete = function () {
            // Only what the logged-in user may see is asked for.
            const can = (p) => self.login && self.login.loggedIn && self.login.hasPermission(p);
            if (can("status")) {
                self.loadConnection().then((state) => {
                    if (!/^(Offline|Closed|Error)/.test(state)) self.loadHistory();
                });
            }
            if (can("files_list")) self.loadFiles();
            self.loadPresets();
        };
        self.fromCurrentData = function (data) {
            self.showJob(data);
            self.appendLog(data.logs);
            for (const sample of data.temps || []) {
                self.samples.push(sample);
                self.showTemperatures(sample);
            }
            if (self.samples.length > 1800) self.samples.splice(0, self.samples.length - 1800);
            if ((data.temps || []).length) self.drawChart();
        };
        self.onEventConnected = () => { self.loadConnection(); self.loadHistory(); };
        self.onEventDisconnected = () => self.loadConnection();
        self.onEventUpdatedFiles = () => self.loadFiles();
        self.onEventMetadataAnalysisFinished = () => self.loadFiles();
        self.onSettingsAfterSave = () => self.loadPresets();
    }

    window.OCTOPRINT_VIEWMODELS = window.OCTOPRINT_VIEWMODELS || [];
    window.OCTOPRINT_VIEWMODELS.push({
        construct: function (deps) {
            const vm = new PrinterViewModel();
            vm.settings = deps[0];
            vm.login = deps[1];
            return vm;
        },
        dependencies: ["settingsViewModel", "loginStateViewModel"],
        name: "printerViewModel",
    });
})();
