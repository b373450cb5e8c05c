/*
 * plinth.js: the script of Plinth's default page (and of its login page).
 * Plain JavaScript, no framework. It runs after /static/client.js (which
 * defines OctoPrint, OctoPrintClient and OCTOPRINT_VIEWMODELS) and after the
 * plugins' JavaScript assets.
 *
 * WHAT PLUGIN TEMPLATES GET
 *
 * Bindings: a tiny subset of knockout's `data-bind`, on any element of a
 * plugin template. <path> is a dotted path into the tree of GET /api/settings,
 * e.g. `settings.plugins.helloworld.some_setting` (a trailing `()` and a
 * knockout-style `settings.settings.` prefix are accepted too).
 *
 *   value: settings.<path>     <input>, <select>, <textarea>: filled when the
 *                              settings dialog (or the wizard) opens; when it is
 *                              saved (finished) the values that differ from the
 *                              loaded ones are sent. Numbers, booleans and lists
 *                              keep their type when the text allows.
 *   checked: settings.<path>   checkbox: true/false; radio: checked when its
 *                              value equals the setting. Same life cycle.
 *   text: settings.<path>      any element: its text is the setting, refreshed
 *                              after login, after every save and whenever the
 *                              settings change (SettingsUpdated).
 *
 * Every other binding (and a wrapper's `allowBindings: true`) is ignored and
 * left to the plugin's own script.
 *
 * View models: plugin JavaScript pushes
 *   OCTOPRINT_VIEWMODELS.push({construct: Ctor, dependencies: [...],
 *                              elements: [...], name: "optionalName"});
 * (the older array form [Ctor, dependencies, elements] works too). After the
 * login state is known and the settings are loaded, every view model is built
 * with `new Ctor([dependency, ...])`. Dependencies, by name:
 *   settingsViewModel     .settings (the current settings tree, replaced when
 *                         it is reloaded), .requestData() (reload, Promise),
 *                         .saveData(partialTree) (POST /api/settings, Promise)
 *   loginStateViewModel   .loggedIn, .username, .isAdmin, .permissions,
 *                         .hasPermission(name), .logout()
 *   printerStateViewModel .state (text), .stateFlags, .job, .progress
 *   any other view model, by its `name` (default: the constructor's name with
 *   a lower-case first letter, e.g. helloWorldViewModel).
 * An unknown name gives `undefined` (and a console warning).
 *
 * Callbacks, each called on every view model that has it:
 *   onStartup()                  all view models are built
 *   onBeforeBinding()            before the page's bindings are applied
 *   onAfterBinding()             after them
 *   onAllBound(viewModels)       after onAfterBinding
 *   onStartupComplete()          start-up is done
 *   onTabChange(next, previous)  before a tab is shown ("#id" strings)
 *   onAfterTabChange(next, previous)
 *   onSettingsShown()            the settings dialog is open and filled
 *   onSettingsBeforeSave()       before saving; changes a view model makes to
 *                                settingsViewModel.settings are saved as well
 *   onSettingsAfterSave()        saved and reloaded
 *   onSettingsHidden()           the settings dialog closed
 *   onEvent<Name>(payload)       a push event, e.g. onEventPrintStarted
 *   onDataUpdaterPluginMessage(plugin, data)   a plugin's push message
 *   fromCurrentData(current)     printer state, job and progress pushed
 *   onSlicingProgress(slicer, source, destination, progress)
 *   onServerConnect(), onServerDisconnect()    the push channel
 *   onWizardDetails(byId)        {<plugin id>: {name, version, mandatory,
 *                                details}} before the wizard opens
 *   onBeforeWizardFinish()       returning false keeps the wizard open
 * A callback that throws is reported with console.warn; the page goes on.
 *
 * Also available: window.Plinth = {showTab(id), showMessage(text, kind),
 * refreshBindings(), viewModels}. window.PLINTH_READY is true once start-up
 * is complete. <body data-push="connected"> while the push channel is
 * subscribed (from the server's greeting), "disconnected" otherwise.
 */
(function () {
    "use strict";

    // ----- helpers -------------------------------------------------------

    /** The element with this id, or null. */
    const $ = (id) => document.getElementById(id);

    /** Creates an element with attributes (`class`, `dataset`, booleans) and children. */
    function h(tag, attrs, ...children) {
        const el = document.createElement(tag);
        for (const [key, value] of Object.entries(attrs || {})) {
            if (value === null || value === undefined || value === false) continue;
            if (key === "class") el.className = value;
            else if (key === "dataset") Object.assign(el.dataset, value);
            else el.setAttribute(key, value === true ? "" : value);
        }
        for (const child of children) {
            if (child !== null && child !== undefined && child !== false) el.append(child);
        }
        return el;
    }

    /** Shows or hides the element with this id. */
    function toggle(id, show) {
        const el = $(id);
        if (el) el.hidden = !show;
    }

    /** Sets a status or error element's text; it is hidden while empty. */
    function setText(el, text) {
        if (!el) return;
        el.textContent = text || "";
        el.hidden = !text;
    }

    /** A readable text for an error ({status, error}, Error, string). */
    function errorText(e) {
        if (!e) return "unknown error";
        if (typeof e === "string") return e;
        if (e.error) return e.status ? `${e.error} (HTTP ${e.status})` : String(e.error);
        return e.message || String(e);
    }

    /** Adds a dismissible message at the top of the page. */
    function showMessage(text, kind = "error") {
        const box = $("page_messages");
        if (!box) return;
        const close = h("button", { type: "button", class: "link-button", "aria-label": "Dismiss" }, "\u00d7");
        const message = h("div", { class: `message message-${kind}` }, h("span", null, text), close);
        close.addEventListener("click", () => message.remove());
        box.append(message);
        while (box.children.length > 5) box.firstElementChild.remove();
    }

    /** One request to the server: the parsed answer, or a rejection {status, error}. */
    async function api(method, url, data) {
        if (window.OctoPrint && window.OctoPrint.request) return window.OctoPrint.request(method, url, data);
        // The login page has no client.js: the same thing in short.
        const headers = { Accept: "application/json" };
        const token = (document.cookie.match(/(?:^|;\s*)plinth_csrf=([^;]*)/) || [])[1];
        if (method !== "GET" && token) headers["X-CSRF-Token"] = decodeURIComponent(token);
        if (data !== undefined) headers["Content-Type"] = "application/json";
        let response;
        try {
            response = await fetch(url, { method, headers, credentials: "same-origin", body: data === undefined ? undefined : JSON.stringify(data) });
        } catch (e) {
            throw { status: 0, error: "the server cannot be reached" };
        }
        const text = await response.text().catch(() => "");
        let body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = text; }
        if (!response.ok) throw { status: response.status, error: (body && body.error) || response.statusText || "request failed" };
        return body;
    }

    /** h:mm:ss (or m:ss) for a number of seconds; "" when unknown. */
    function duration(seconds) {
        if (typeof seconds !== "number" || !isFinite(seconds) || seconds < 0) return "";
        const s = Math.round(seconds);
        const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
        const two = (n) => String(n).padStart(2, "0");
        return hh ? `${hh}:${two(mm)}:${two(ss)}` : `${mm}:${two(ss)}`;
    }

    const isPlain = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

    // ----- page state and the core view models ---------------------------

    const page = {
        firstRun: false,
        user: null,
        settingsLoaded: false,
        settingsSnapshot: null,
        tab: null,
        viewModels: [], // {name, instance}
    };

    const settingsViewModel = {
        settings: {},
        requestData: () => loadSettings().then(() => bindText()),
        saveData: (partial) => api("POST", "/api/settings", partial).then(() => loadSettings()).then(() => bindText()),
    };
    const loginStateViewModel = {
        loggedIn: false,
        username: null,
        isAdmin: false,
        permissions: [],
        hasPermission: (name) => can(name),
        logout: () => logout(),
    };
    const printerStateViewModel = { state: "Unknown", stateFlags: {}, job: null, progress: null };

    /** Whether the logged-in user has a permission (administrators have
     *  all). The login answer names them as OctoPrint does (`FILES_LIST`);
     *  either spelling is asked for. */
    function can(permission) {
        const u = page.user;
        const wanted = String(permission).toLowerCase();
        return !!u && (!!u.admin || (Array.isArray(u.permissions) && u.permissions.some((p) => String(p).toLowerCase() === wanted)));
    }

    /** Records who is logged in (an /api/login answer, or null) and updates the navbar. */
    function setUser(user) {
        page.user = user && typeof user === "object" && user.name ? user : null;
        Object.assign(loginStateViewModel, {
            loggedIn: !!page.user,
            username: page.user ? page.user.name : null,
            isAdmin: !!(page.user && page.user.admin),
            permissions: page.user && Array.isArray(page.user.permissions) ? page.user.permissions : [],
        });
        const name = $("navbar_username");
        if (name) name.textContent = page.user ? page.user.name : "";
        toggle("logout_button", !!page.user);
        toggle("navbar_usersettings", !!page.user);
        toggle("navbar_settings", can("settings_read") || can("settings"));
    }

    /** Goes to the login page, coming back here afterwards. */
    function goToLogin() {
        stopPush();
        location.assign("/login?redirect=" + encodeURIComponent(location.pathname + location.search));
    }

    /** POST /api/logout, then the login page. */
    async function logout() {
        try {
            await api("POST", "/api/logout");
        } catch (e) {
            showMessage("Logging out failed: " + errorText(e));
            return;
        }
        stopPush();
        location.assign("/login");
    }

    // ----- view models ---------------------------------------------------

    /** Calls `method(...args)` on every view model that has it; returns the results. */
    function callViewModels(method, ...args) {
        const results = [];
        for (const vm of page.viewModels) {
            const fn = vm.instance && vm.instance[method];
            if (typeof fn !== "function") continue;
            try {
                results.push(fn.apply(vm.instance, args));
            } catch (e) {
                console.warn(`Plinth: view model ${vm.name} failed in ${method}:`, e);
            }
        }
        return results;
    }

    /** Builds every entry of OCTOPRINT_VIEWMODELS, dependencies first. */
    function constructViewModels() {
        const known = { settingsViewModel, loginStateViewModel, printerStateViewModel };
        let pending = (window.OCTOPRINT_VIEWMODELS || []).map((entry, i) => {
            const e = Array.isArray(entry) ? { construct: entry[0], dependencies: entry[1], elements: entry[2] } : entry || {};
            const ctor = e.construct;
            const deps = e.dependencies === undefined ? [] : [].concat(e.dependencies);
            const derived = ctor && ctor.name ? ctor.name[0].toLowerCase() + ctor.name.slice(1) : `viewModel${i}`;
            return { ctor, deps, name: e.name || derived };
        }).filter((e) => {
            if (typeof e.ctor !== "function") console.warn(`Plinth: view model ${e.name} has no constructor`);
            return typeof e.ctor === "function";
        });
        while (pending.length) {
            const waiting = new Set(pending.map((e) => e.name));
            let ready = pending.filter((e) => e.deps.every((d) => d in known || !waiting.has(d)));
            if (!ready.length) ready = [pending[0]]; // a cycle: build one anyway
            pending = pending.filter((e) => !ready.includes(e));
            for (const e of ready) {
                const args = e.deps.map((d) => {
                    if (!(d in known)) console.warn(`Plinth: view model ${e.name} depends on unknown ${d}`);
                    return known[d];
                });
                try {
                    const instance = new e.ctor(args);
                    known[e.name] = instance;
                    page.viewModels.push({ name: e.name, instance });
                } catch (err) {
                    console.warn(`Plinth: view model ${e.name} failed to construct:`, err);
                }
            }
        }
    }

    // ----- bindings ------------------------------------------------------

    const UNSAFE_KEYS = new Set(["__proto__", "constructor", "prototype"]);
    const BINDING = /^(value|checked|text)\s*:\s*settings((?:\.[\w$-]+)+)(?:\(\))?$/;

    /** The supported bindings of an element: [{kind, path}]. */
    function bindingsOf(el) {
        const out = [];
        for (const part of (el.getAttribute("data-bind") || "").split(",")) {
            const m = BINDING.exec(part.trim());
            if (!m) continue;
            const path = m[2].slice(1).split(".");
            // Never a path into the prototype chain.
            if (path.some((key) => UNSAFE_KEYS.has(key))) continue;
            out.push({ kind: m[1], path: path });
        }
        return out;
    }

    /** The path into the tree: a knockout-style leading `settings.` is dropped. */
    function resolve(tree, path) {
        const hasOwn = isPlain(tree) && Object.prototype.hasOwnProperty.call(tree, "settings");
        return path.length > 1 && path[0] === "settings" && !hasOwn ? path.slice(1) : path;
    }

    /** The value at a path, or undefined. */
    function getPath(tree, path) {
        let v = tree;
        for (const key of path) {
            if (v === null || typeof v !== "object") return undefined;
            v = v[key];
        }
        return v;
    }

    /** Sets the value at a path, creating objects on the way. */
    function setPath(tree, path, value) {
        let t = tree;
        for (const key of path.slice(0, -1)) {
            if (!isPlain(t[key])) t[key] = {};
            t = t[key];
        }
        t[path[path.length - 1]] = value;
    }

    /** Deep-merges plain objects from `from` into `into`. */
    function merge(into, from) {
        for (const [k, v] of Object.entries(from || {})) {
            if (isPlain(v) && isPlain(into[k])) merge(into[k], v);
            else into[k] = v;
        }
        return into;
    }

    /** The parts of `now` that differ from `before` (undefined when none). */
    function changes(now, before) {
        if (isPlain(now) && isPlain(before)) {
            let out;
            for (const k of Object.keys(now)) {
                const d = changes(now[k], before[k]);
                if (d !== undefined) (out = out || {})[k] = d;
            }
            return out;
        }
        return JSON.stringify(now) === JSON.stringify(before) ? undefined : now;
    }

    /** A setting as text. */
    const display = (v) => (v === undefined || v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));

    /** Text from an input, as the type of the value it replaces. */
    function coerce(old, text, numeric) {
        const number = Number(text);
        if ((numeric || typeof old === "number") && text.trim() !== "" && isFinite(number)) return number;
        if (typeof old === "boolean" && (text === "true" || text === "false")) return text === "true";
        if (old !== null && typeof old === "object") {
            try { return JSON.parse(text); } catch (e) { return text; }
        }
        return text;
    }

    /** Fills every `text:` binding on the page from the settings. */
    function bindText(root = document) {
        if (!page.settingsLoaded) return;
        const tree = settingsViewModel.settings;
        for (const el of root.querySelectorAll("[data-bind]")) {
            for (const b of bindingsOf(el)) {
                if (b.kind === "text") el.textContent = display(getPath(tree, resolve(tree, b.path)));
            }
        }
    }

    /** Fills the `value:`/`checked:` bindings under `root` from the settings. */
    function fillInputs(root) {
        const tree = settingsViewModel.settings;
        for (const el of root.querySelectorAll("[data-bind]")) {
            for (const b of bindingsOf(el)) {
                const v = getPath(tree, resolve(tree, b.path));
                if (b.kind === "checked") {
                    el.checked = el.type === "radio" ? v !== undefined && v !== null && el.value === String(v) : !!v;
                } else if (b.kind === "value" && "value" in el) {
                    el.value = display(v);
                }
            }
        }
    }

    /** The `value:`/`checked:` bindings under `root` whose input differs from
     *  the loaded setting, as a partial settings tree. */
    function collectInputs(root, into = {}) {
        const tree = settingsViewModel.settings;
        for (const el of root.querySelectorAll("[data-bind]")) {
            for (const b of bindingsOf(el)) {
                if (b.kind === "text") continue;
                const path = resolve(tree, b.path);
                const old = getPath(tree, path);
                if (b.kind === "checked" && el.type !== "radio") {
                    if (!!el.checked !== !!old) setPath(into, path, !!el.checked);
                } else if (b.kind === "checked") {
                    if (el.checked && el.value !== display(old)) setPath(into, path, coerce(old, el.value, false));
                } else if ("value" in el && String(el.value) !== display(old)) {
                    setPath(into, path, coerce(old, String(el.value), el.type === "number" || el.type === "range"));
                }
            }
        }
        return into;
    }

    /** GET /api/settings into settingsViewModel.settings; the error text, or "" when fine. */
    async function loadSettings() {
        if (!(can("settings_read") || can("settings"))) return "you may not read the settings";
        try {
            const tree = await api("GET", "/api/settings");
            settingsViewModel.settings = isPlain(tree) ? tree : {};
            page.settingsLoaded = true;
            return "";
        } catch (e) {
            return errorText(e);
        }
    }

    let settingsRefresh = null;
    /** Reloads the settings soon (after SettingsUpdated) and refreshes `text:` bindings. */
    function refreshSettingsSoon() {
        clearTimeout(settingsRefresh);
        settingsRefresh = setTimeout(async () => {
            const error = await loadSettings();
            if (error) showMessage("Could not reload the settings: " + error);
            else bindText();
        }, 300);
    }

    // ----- tabs ----------------------------------------------------------

    /** The tab panes, in page order. */
    const tabPanes = () => Array.from(document.querySelectorAll("#tab_content > .tab-pane"));

    /** Shows the tab pane with this id (and hides the others); false if there is none. */
    function showTab(id) {
        const pane = $(id);
        if (!pane || !tabPanes().includes(pane)) return false;
        const previous = page.tab;
        if (previous === id) return true;
        const from = previous ? "#" + previous : null;
        callViewModels("onTabChange", "#" + id, from);
        for (const p of tabPanes()) p.hidden = p !== pane;
        for (const li of document.querySelectorAll("#tabs > li")) li.classList.toggle("active", li.id === id + "_link");
        page.tab = id;
        if (id === "pluginmanager" && page.user) loadPlugins();
        updateWebcamTimer(true);
        callViewModels("onAfterTabChange", "#" + id, from);
        return true;
    }

    /** Percent-decodes a URL fragment; a malformed one (`#%`) is taken as it is. */
    function safeDecode(text) {
        try {
            return decodeURIComponent(text);
        } catch (e) {
            return text;
        }
    }

    /** Handles links to `#id`: tab panes are shown, dialog sections scrolled to. */
    function onHashLink(ev) {
        const a = ev.target.closest && ev.target.closest('a[href^="#"]');
        if (!a) return;
        const id = safeDecode(a.getAttribute("href").slice(1));
        const target = id ? $(id) : null;
        if (!target) return;
        if (tabPanes().includes(target)) {
            ev.preventDefault();
            showTab(id);
            history.replaceState(null, "", "#" + id);
        } else if (a.closest(".section-nav")) {
            ev.preventDefault();
            target.scrollIntoView({ block: "start" });
            for (const link of a.closest(".section-nav").querySelectorAll("a")) link.classList.toggle("active", link === a);
        }
    }

    // ----- settings, user settings and about dialogs ---------------------

    /** Opens the settings dialog: loads the settings, fills the inputs. */
    async function openSettings() {
        const dialog = $("settings_dialog");
        if (!dialog || dialog.open) return;
        const status = $("settings_status");
        status.classList.remove("error");
        const error = await loadSettings();
        setText(status, error ? "Could not load the settings: " + error : "");
        if (error) status.classList.add("error");
        page.settingsSnapshot = JSON.parse(JSON.stringify(settingsViewModel.settings));
        fillInputs(dialog);
        dialog.showModal();
        callViewModels("onSettingsShown");
    }

    /** Saves the bound values of the settings dialog, then closes it. */
    async function saveSettings() {
        const dialog = $("settings_dialog");
        const status = $("settings_status");
        const buttons = [$("settings_save"), $("settings_cancel")];
        buttons.forEach((b) => { b.disabled = true; });
        status.classList.remove("error");
        setText(status, "Saving\u2026");
        try {
            callViewModels("onSettingsBeforeSave");
            const data = collectInputs($("settings_content") || dialog);
            merge(data, changes(settingsViewModel.settings, page.settingsSnapshot || {}) || {});
            if (Object.keys(data).length) await api("POST", "/api/settings", data);
            setText(status, "Saved");
            const error = await loadSettings();
            if (error) showMessage("Could not reload the settings: " + error);
            bindText();
            callViewModels("onSettingsAfterSave");
            dialog.close();
        } catch (e) {
            status.classList.add("error");
            setText(status, "Saving failed: " + errorText(e));
        } finally {
            buttons.forEach((b) => { b.disabled = false; });
        }
    }

    /** The Application keys section: the caller's keys (everyone's for administrators). */
    async function loadAppKeys() {
        const body = document.querySelector("#appkeys_table tbody");
        if (!body || !page.user) return;
        try {
            const answer = await api("GET", "/api/plugin/appkeys" + (page.user.admin ? "?all=true" : ""));
            body.replaceChildren(...(answer.keys || []).map((k) => {
                const revoke = h("button", { type: "button", class: "appkey-revoke" }, "Revoke");
                revoke.addEventListener("click", () => api("POST", "/api/plugin/appkeys", { command: "revoke", app: k.app_id, user: k.user_id })
                    .then(loadAppKeys).catch((e) => showMessage("Could not revoke: " + errorText(e))));
                return h("tr", { dataset: { app: k.app_id } },
                    h("td", null, k.app_id), h("td", null, k.user_id),
                    h("td", null, k.created ? new Date(k.created * 1000).toLocaleString() : ""),
                    h("td", null, revoke));
            }));
        } catch (e) {
            body.replaceChildren(h("tr", null, h("td", { colspan: "4", class: "muted" }, errorText(e))));
        }
    }

    /** The API key section: make a new key (shown once) or revoke it. */
    function wireApiKey() {
        const url = () => "/api/access/users/" + encodeURIComponent(page.user ? page.user.name : "") + "/apikey";
        const show = (text) => { const el = $("apikey_value"); if (el) el.textContent = text; };
        const make = $("apikey_generate");
        if (make) make.addEventListener("click", () => api("POST", url(), {})
            .then((a) => show(a.apikey)).catch((e) => showMessage("Could not make a key: " + errorText(e))));
        const revoke = $("apikey_revoke");
        if (revoke) revoke.addEventListener("click", () => api("DELETE", url())
            .then(() => show("revoked")).catch((e) => showMessage("Could not revoke the key: " + errorText(e))));
    }

    /** Wires a dialog's open link/button, close buttons and section links. */
    function wireDialogs() {
        const on = (id, event, fn) => { const el = $(id); if (el) el.addEventListener(event, fn); };
        const open = (id) => (ev) => { ev.preventDefault(); const d = $(id); if (d && !d.open) d.showModal(); };
        on("navbar_settings", "click", (ev) => { ev.preventDefault(); openSettings(); loadAppKeys(); });
        on("settings_save", "click", saveSettings);
        on("settings_cancel", "click", () => $("settings_dialog").close());
        on("settings_dialog", "close", () => callViewModels("onSettingsHidden"));
        on("navbar_about", "click", open("about_dialog"));
        on("about_close", "click", () => $("about_dialog").close());
        on("navbar_usersettings", "click", open("usersettings_dialog"));
        on("usersettings_close", "click", () => $("usersettings_dialog").close());
        on("logout_button", "click", logout);
    }

    // ----- plugin manager ------------------------------------------------

    const pm = { list: [], restart: new Set(), refresh: new Set(), installed: false };

    /** Shows the restart/reload banners when the list or a command's answer asks for it. */
    function updateBanners() {
        toggle("pluginmanager_restart_banner", pm.installed || pm.restart.size > 0 || pm.list.some((p) => p.needs_restart));
        toggle("pluginmanager_reload_banner", pm.refresh.size > 0 || pm.list.some((p) => p.needs_refresh));
    }

    /** One row of the plugin table. */
    function pluginRow(p) {
        const button = (cls, label, command, disabled, title, extra) => {
            const b = h("button", { type: "button", class: cls, disabled, title }, label);
            b.addEventListener("click", () => pluginCommand(p.id, command, b, extra));
            return b;
        };
        let toggleButton;
        if (p.state === "enabled" || p.state === "disabled") {
            const enabled = p.pending_enable || (p.state === "enabled" && !p.pending_disable);
            toggleButton = enabled ? button("pm-disable", "Disable", "disable") : button("pm-enable", "Enable", "enable");
        } else if (p.state === "failed") {
            toggleButton = button("pm-disable", "Disable", "disable");
        } else if (p.state === "quarantined") {
            toggleButton = button("pm-enable", "Enable", "enable", false, "Start it again (lifts the quarantine)");
        } else {
            toggleButton = button("pm-enable", "Enable", "enable", true, `A plugin that is ${p.state} cannot be enabled`);
        }
        const bundled = p.source === "bundled";
        const uninstall = button("pm-uninstall", "Uninstall", "uninstall", bundled || p.pending_uninstall);
        uninstall.hidden = bundled;
        const pending = ["enable", "disable", "uninstall"].filter((c) => p["pending_" + c]);
        const isolated = p.mode === "isolated";
        const moveButton = isolated
            ? button("pm-mode", "Run in process", "mode", false, "Run it in the host's own process", { mode: "in_process" })
            : button("pm-mode", "Isolate", "mode", false, "Run it in a process of its own", { mode: "isolated" });
        const crashes = p.crashes || {};
        return h("tr", { dataset: { plugin: p.id }, class: `state-${p.state}` },
            h("td", { class: "pm-name" },
                h("strong", null, p.name || p.id),
                p.description ? h("div", { class: "muted small" }, p.description) : null,
                p.error ? h("div", { class: "error small" }, p.error) : null),
            h("td", { class: "pm-version" }, p.version || ""),
            h("td", { class: "pm-state" },
                h("span", { class: `badge badge-${p.state}` }, p.state),
                pending.length ? h("span", { class: "muted small" }, ` (${pending.join(", ")} at restart)`) : null),
            h("td", { class: "pm-source" }, p.source || ""),
            h("td", { class: "pm-mode" },
                h("span", { class: "badge" }, isolated ? "isolated" : "in process"),
                crashes.crashes ? h("div", { class: "muted small pm-crashes" },
                    `${crashes.crashes} crash${crashes.crashes === 1 ? "" : "es"}, ${crashes.restarts} restart${crashes.restarts === 1 ? "" : "s"}; last: ${crashes.last}`) : null,
                p.crashed_host ? h("div", { class: "error small pm-crashed-host" }, `Crashed the host: ${p.crashed_host}`) : null),
            h("td", { class: "pm-actions" }, toggleButton, " ", uninstall, " ", moveButton));
    }

    /** GET /api/plugins into the table. */
    async function loadPlugins() {
        const table = $("pluginmanager_table");
        if (!table) return;
        const body = table.tBodies[0] || table.appendChild(h("tbody"));
        if (!can("plugin_manager")) {
            body.replaceChildren(h("tr", null, h("td", { colspan: "6", class: "muted" }, "Managing plugins needs the plugin_manager permission.")));
            return;
        }
        try {
            const answer = await api("GET", "/api/plugins");
            pm.list = (answer && Array.isArray(answer.plugins)) ? answer.plugins : [];
            pm.installed = !!(answer && answer.restart_needed);
            body.replaceChildren(...pm.list.map(pluginRow));
            filterPlugins();
            setText($("pluginmanager_error"), "");
        } catch (e) {
            setText($("pluginmanager_error"), "Could not list the plugins: " + errorText(e));
        }
        updateBanners();
    }

    /** Hides the plugin rows the search does not match. */
    function filterPlugins() {
        const search = $("pluginmanager_search");
        const needle = search ? search.value.trim().toLowerCase() : "";
        document.querySelectorAll("#pluginmanager_table tbody tr[data-plugin]").forEach((row) => {
            row.hidden = !!needle && !row.textContent.toLowerCase().includes(needle);
        });
    }

    /** POST /api/plugins with the chosen library or archive: installed at the next start. */
    async function installPlugin(ev) {
        ev.preventDefault();
        const input = $("pluginmanager_file");
        const file = input && input.files && input.files[0];
        if (!file) return;
        const form = new FormData();
        form.append("file", file, file.name);
        const headers = { Accept: "application/json" };
        const token = (document.cookie.match(/(?:^|;\s*)plinth_csrf=([^;]*)/) || [])[1];
        if (token) headers["X-CSRF-Token"] = decodeURIComponent(token);
        let error = "";
        try {
            const response = await fetch("/api/plugins", { method: "POST", body: form, headers, credentials: "same-origin" });
            const answer = await response.json().catch(() => ({}));
            if (!response.ok) throw { status: response.status, error: answer.error || response.statusText };
            showMessage(`Installed ${answer.id}: it loads when Plinth restarts.`, "success");
            input.value = "";
            pm.installed = true;
        } catch (e) {
            error = "Could not install the plugin: " + errorText(e);
        }
        await loadPlugins();
        if (error) setText($("pluginmanager_error"), error);
    }

    /** POST /api/plugins/<id> {command, ...extra}, then refreshes the list and banners. */
    async function pluginCommand(id, command, button, extra) {
        const row = button.closest("tr");
        const buttons = row ? Array.from(row.querySelectorAll("button")) : [button];
        buttons.forEach((b) => { b.disabled = true; });
        try {
            const answer = await api("POST", "/api/plugins/" + encodeURIComponent(id), Object.assign({ command }, extra || {}));
            if (answer && answer.needs_restart) pm.restart.add(id); else pm.restart.delete(id);
            if (answer && answer.needs_refresh) pm.refresh.add(id); else pm.refresh.delete(id);
            setText($("pluginmanager_error"), "");
            if (answer && answer.plugin && row) {
                pm.list = pm.list.map((p) => (p.id === id ? answer.plugin : p));
                row.replaceWith(pluginRow(answer.plugin));
            }
            updateBanners();
            await loadPlugins();
        } catch (e) {
            setText($("pluginmanager_error"), `Could not ${command} ${id}: ${errorText(e)}`);
            buttons.forEach((b) => { b.disabled = false; });
            await loadPlugins();
        }
    }

    // ----- printer state, events and the push channel -------------------

    /** Shows printer state, job file and progress ({state, job, progress}). */
    function updateState(current) {
        if (!isPlain(current)) return;
        const st = current.state;
        const text = typeof st === "string" ? st : st && st.text;
        if (text) {
            printerStateViewModel.state = text;
            const el = $("state_text");
            if (el) el.textContent = text;
        }
        if (isPlain(st) && isPlain(st.flags)) printerStateViewModel.stateFlags = st.flags;
        if ("job" in current) {
            printerStateViewModel.job = current.job;
            const file = current.job && current.job.file;
            const el = $("job_file");
            if (el) el.textContent = (file && (file.display || file.name)) || "";
        }
        if ("progress" in current) {
            const progress = current.progress || {};
            printerStateViewModel.progress = current.progress;
            const c = typeof progress.completion === "number" ? Math.max(0, Math.min(100, progress.completion)) : null;
            const bar = $("job_progress");
            if (bar) bar.value = c === null ? 0 : c;
            const label = $("job_progress_text");
            if (label) label.textContent = c === null ? "" : c.toFixed(1) + " %";
            const left = $("job_time_left");
            if (left) left.textContent = duration(progress.printTimeLeft);
        }
    }

    /** GET /api/job into the sidebar. */
    async function loadJob() {
        if (!can("status")) return;
        try {
            updateState(await api("GET", "/api/job"));
        } catch (e) {
            showMessage("Could not read the printer state: " + errorText(e));
        }
    }

    /** Adds an entry to the events tab (newest first, at most 200). */
    function logEvent(name, payload) {
        const log = $("event_log");
        if (!log) return;
        const now = new Date();
        const text = payload === undefined ? "" : JSON.stringify(payload);
        // Progress-like events fold into the newest entry of their name.
        const newest = log.firstElementChild;
        if (FOLDED_EVENTS.includes(name) && newest && newest.dataset.event === name) {
            const count = Number(newest.dataset.count || 1) + 1;
            newest.dataset.count = String(count);
            newest.querySelector("time").textContent = now.toLocaleTimeString();
            newest.querySelector(".event-count").textContent = ` \u00d7${count}`;
            newest.querySelector("code").textContent = text;
            return;
        }
        const entry = h("li", { dataset: { event: name }, title: now.toLocaleString() },
            h("time", { class: "event-time muted" }, now.toLocaleTimeString()), " ",
            h("strong", { class: "event-name" }, name),
            h("span", { class: "event-count muted" }, ""), " ",
            h("code", null, text));
        log.prepend(entry);
        filterEvents(entry);
        while (log.children.length > 200) log.lastElementChild.remove();
    }

    /** Events shown once, updated in place while they repeat. */
    const FOLDED_EVENTS = ["SlicingProgress", "PositionUpdate", "ZChange", "MetadataAnalysisStarted", "UpdatedFiles"];

    /** Hides the Events tab's entries the filter does not match (all, or `only`). */
    function filterEvents(only) {
        const filter = $("event_log_filter");
        const needle = filter ? filter.value.trim().toLowerCase() : "";
        const entries = only ? [only] : Array.from(document.querySelectorAll("#event_log li"));
        for (const e of entries) e.hidden = !!needle && !e.textContent.toLowerCase().includes(needle);
    }

    const push = { socket: null, delay: 1000, timer: null, stopped: false, connectedOnce: false };

    /** Shows whether the push channel is connected (only a problem is shown). */
    function setPushStatus(connected) {
        if (!connected) document.body.dataset.push = "disconnected";
        const el = $("push_status");
        if (!el) return;
        el.hidden = connected;
        el.textContent = connected ? "" : "Disconnected, reconnecting\u2026";
    }

    /**
     * An application asks for a key (OctoPrint's appkeys workflow): a dialog
     * asks the logged-in user to allow or deny it; it goes when the request
     * was decided (here or elsewhere).
     */
    function onAppKeys(data) {
        if (!isPlain(data) || typeof data.user_token !== "string") return;
        const id = "appkey_" + data.user_token.replace(/[^a-z0-9]/gi, "");
        if (data.type === "end_request") {
            const open = $(id);
            if (open) { open.close(); open.remove(); }
            return;
        }
        if (data.type !== "request_access" || $(id) || !page.user) return;
        if (data.user_id && data.user_id !== page.user.name) return;
        const decide = (allow) => api("POST", "/plugin/appkeys/decision/" + encodeURIComponent(data.user_token), { decision: allow })
            .catch((e) => showMessage("The decision failed: " + errorText(e)))
            .finally(() => { dialog.close(); dialog.remove(); });
        const allow = h("button", { type: "button", class: "primary", "data-appkey": "allow" }, "Allow");
        const deny = h("button", { type: "button", "data-appkey": "deny" }, "Deny");
        const who = data.user_id ? ` as ${data.user_id}` : "";
        const from = data.remote_address ? ` from ${String(data.remote_address)}` : "";
        const dialog = h("dialog", { id, class: "appkey-request" },
            h("h2", null, "Access request"),
            h("p", null, `The application "${String(data.app_name)}"${from} asks for access to this printer${who}.`),
            h("p", null, "Allow it only if you just started this from the application."),
            h("div", { class: "dialog-buttons" }, deny, allow));
        allow.addEventListener("click", () => decide(true));
        deny.addEventListener("click", () => decide(false));
        document.body.append(dialog);
        dialog.showModal();
    }

    /** The application key requests that wait for this user (asked before
     *  the page was open): a dialog each, as when they arrive. */
    async function showPendingAppKeys() {
        try {
            const answer = await api("GET", "/api/plugin/appkeys");
            // A few at most: more would bury the page (each address may ask
            // only a few times anyway).
            for (const request of Object.values((answer && answer.pending) || {}).slice(0, 3)) {
                onAppKeys(Object.assign({ type: "request_access", app_name: request.app_id }, request));
            }
        } catch (e) {
            // Nothing waits, or the list is not the user's to see.
        }
    }

    /** Handles one push message. */
    function onPush(message) {
        if (!isPlain(message)) return;
        // The greeting comes once the server has subscribed this channel.
        if (isPlain(message.connected)) document.body.dataset.push = "connected";
        if (isPlain(message.event) && typeof message.event.type === "string") {
            const name = message.event.type;
            const payload = message.event.payload;
            logEvent(String(name), payload);
            callViewModels("onEvent" + name, payload);
            if (name === "SettingsUpdated" && page.settingsLoaded) refreshSettingsSoon();
        }
        if (isPlain(message.current)) {
            updateState(message.current);
            callViewModels("fromCurrentData", message.current);
        }
        if (isPlain(message.slicingProgress)) {
            const s = message.slicingProgress;
            callViewModels("onSlicingProgress", s.slicer, s.source_path, s.dest_path, s.progress);
        }
        if (isPlain(message.plugin)) {
            if (message.plugin.plugin === "appkeys") onAppKeys(message.plugin.data);
            callViewModels("onDataUpdaterPluginMessage", message.plugin.plugin, message.plugin.data);
        }
        if (typeof message.dropped === "number") {
            logEvent("dropped", { messages: message.dropped });
        }
    }

    /** Opens the push channel; it reconnects with a growing delay (up to 30 s). */
    function connectPush() {
        if (push.stopped || push.socket) return;
        let socket;
        try {
            socket = new WebSocket((location.protocol === "https:" ? "wss" : "ws") + "://" + location.host + "/ws");
        } catch (e) {
            setPushStatus(false);
            schedulePush();
            return;
        }
        push.socket = socket;
        let opened = false;
        socket.onopen = () => {
            opened = true;
            push.delay = 1000;
            setPushStatus(true);
            if (push.connectedOnce) loadJob();
            push.connectedOnce = true;
            callViewModels("onServerConnect");
        };
        socket.onmessage = (ev) => {
            let message;
            try {
                message = JSON.parse(ev.data);
            } catch (e) {
                console.warn("Plinth: a push message is not JSON");
                return;
            }
            onPush(message);
        };
        socket.onerror = () => {}; // onclose follows
        socket.onclose = () => {
            if (push.socket === socket) push.socket = null;
            if (push.stopped) return;
            setPushStatus(false);
            if (opened) callViewModels("onServerDisconnect");
            schedulePush();
        };
    }

    /** Tries the push channel again later, after checking that we are still logged in. */
    function schedulePush() {
        clearTimeout(push.timer);
        push.timer = setTimeout(async () => {
            try {
                await api("POST", "/api/login", { passive: true });
            } catch (e) {
                if (e && e.status === 401) return goToLogin();
                push.delay = Math.min(push.delay * 2, 30000);
                return schedulePush();
            }
            push.delay = Math.min(push.delay * 2, 30000);
            connectPush();
        }, push.delay);
    }

    /** Closes the push channel for good (logout, leaving the page). */
    function stopPush() {
        push.stopped = true;
        clearTimeout(push.timer);
        const socket = push.socket;
        push.socket = null;
        if (!socket) return;
        // Closing a socket still connecting logs an error: close it once open.
        if (socket.readyState === WebSocket.CONNECTING) socket.onopen = () => socket.close();
        else socket.close();
    }

    // ----- webcam --------------------------------------------------------

    const cam = { list: [], timer: null, loadingSince: 0, failed: false };

    /** The webcam chosen in #webcam_select. */
    function currentWebcam() {
        const select = $("webcam_select");
        return select ? cam.list.find((w) => w.name === select.value) : undefined;
    }

    /** Loads a fresh snapshot of the chosen webcam into #webcam_image. */
    function snapshot() {
        const img = $("webcam_image");
        const webcam = currentWebcam();
        if (!img || !webcam) return;
        if (cam.loadingSince && Date.now() - cam.loadingSince < 10000) return;
        const label = webcam.displayName || webcam.name;
        if (webcam.canSnapshot === false) {
            img.hidden = true;
            setText($("webcam_error"), `${label} does not take snapshots.`);
            return;
        }
        cam.loadingSince = Date.now();
        img.onload = () => {
            cam.loadingSince = 0;
            cam.failed = false;
            img.hidden = false;
            setText($("webcam_error"), "");
        };
        img.onerror = () => {
            cam.loadingSince = 0;
            cam.failed = true; // no automatic retries until Refresh or another webcam
            img.hidden = true;
            setText($("webcam_error"), `No snapshot from ${label}. Press Refresh to try again.`);
        };
        img.alt = `Snapshot of ${label}`;
        img.src = `/api/webcams/${encodeURIComponent(webcam.name)}/snapshot?_=${Date.now()}`;
    }

    /** Refreshes the snapshot every 2 s while the control tab is shown. */
    function updateWebcamTimer(now) {
        const wanted = page.tab === "control" && cam.list.length > 0;
        if (wanted && now && !cam.failed) snapshot();
        if (wanted && !cam.timer) {
            cam.timer = setInterval(() => {
                if (!cam.failed && document.visibilityState !== "hidden") snapshot();
            }, 2000);
        } else if (!wanted && cam.timer) {
            clearInterval(cam.timer);
            cam.timer = null;
        }
    }

    /** GET /api/webcams into #webcam_select. */
    async function loadWebcams() {
        const select = $("webcam_select");
        if (!select) return;
        if (!can("webcam")) {
            setText($("webcam_error"), "Showing the webcam needs the webcam permission.");
            return;
        }
        try {
            const answer = await api("GET", "/api/webcams");
            cam.list = answer && Array.isArray(answer.webcams) ? answer.webcams : [];
        } catch (e) {
            setText($("webcam_error"), "Could not list the webcams: " + errorText(e));
            return;
        }
        select.replaceChildren(...cam.list.map((w) => h("option", { value: w.name }, w.displayName || w.name)));
        setText($("webcam_error"), cam.list.length ? "" : "No webcam is configured.");
        updateWebcamTimer(true);
    }

    /** Wires the webcam select and refresh button. */
    function wireWebcam() {
        const retry = () => { cam.failed = false; cam.loadingSince = 0; snapshot(); };
        const select = $("webcam_select");
        if (select) select.addEventListener("change", retry);
        const refresh = $("webcam_refresh");
        if (refresh) refresh.addEventListener("click", retry);
    }

    // ----- wizard --------------------------------------------------------

    const wiz = { steps: [], index: 0, aclDone: false, closable: false, done: false };

    /** Whether this wizard step is the first-run access control step. */
    const isAclStep = (step) => step && step.id === "wizard_firstrun_acl";

    /** Shows step `index` and the buttons that fit it. */
    function showWizardStep(index, keepError) {
        wiz.index = Math.max(0, Math.min(index, wiz.steps.length - 1));
        wiz.steps.forEach((s, i) => { s.hidden = i !== wiz.index; });
        const last = wiz.index === wiz.steps.length - 1;
        $("wizard_prev").disabled = wiz.index === 0;
        toggle("wizard_next", !last);
        toggle("wizard_finish", last);
        const step = wiz.steps[wiz.index];
        const name = step ? step.dataset.name || "" : "";
        $("wizard_progress").textContent = `Step ${wiz.index + 1} of ${wiz.steps.length}${name ? ": " + name : ""}`;
        if (!keepError) setText($("wizard_error"), "");
    }

    /** POST /api/setup/admin from the access control step; true when done. */
    async function createAdmin() {
        if (wiz.aclDone) return true;
        const error = $("wizard_acl_error");
        const user = $("wizard_acl_user").value.trim();
        const pass = $("wizard_acl_pass").value;
        if (!user) { setText(error, "Enter a user name."); return false; }
        if (!pass) { setText(error, "Enter a password."); return false; }
        if (pass !== $("wizard_acl_pass2").value) { setText(error, "The passwords do not match."); return false; }
        try {
            setUser(await api("POST", "/api/setup/admin", { user, pass }));
        } catch (e) {
            setText(error, e && e.status === 409
                ? "An administrator exists already: reload the page and log in."
                : "Could not create the administrator: " + errorText(e));
            return false;
        }
        setText(error, "");
        wiz.aclDone = true;
        for (const id of ["wizard_acl_user", "wizard_acl_pass", "wizard_acl_pass2"]) $(id).disabled = true;
        const loadError = await loadSettings();
        if (loadError) setText($("wizard_error"), "Could not load the settings: " + loadError);
        // Fill the plugin steps ahead with the settings now readable.
        wiz.steps.filter((s) => !isAclStep(s)).forEach(fillInputs);
        bindText();
        return true;
    }

    /** Runs a wizard button's action with the buttons disabled meanwhile. */
    async function wizardBusy(action) {
        const buttons = ["wizard_prev", "wizard_next", "wizard_finish", "wizard_close"].map($).filter(Boolean);
        const before = buttons.map((b) => b.disabled);
        buttons.forEach((b) => { b.disabled = true; });
        try {
            await action();
        } catch (e) {
            setText($("wizard_error"), errorText(e));
        } finally {
            if (!wiz.done) buttons.forEach((b, i) => { b.disabled = before[i]; });
            if (!wiz.done) showWizardStep(wiz.index, true);
        }
    }

    /** Finishes the wizard: saves the bound values, marks the wizards handled, reloads. */
    async function finishWizard() {
        if (isAclStep(wiz.steps[wiz.index]) && !(await createAdmin())) return;
        if (callViewModels("onBeforeWizardFinish").includes(false)) return;
        const data = {};
        for (const step of wiz.steps) if (!isAclStep(step)) collectInputs(step, data);
        try {
            if (Object.keys(data).length) await api("POST", "/api/settings", data);
            const handled = [...new Set(wiz.steps.map((s) => s.dataset.plugin).filter(Boolean))];
            await api("POST", "/api/setup/wizard", { handled });
        } catch (e) {
            setText($("wizard_error"), "Could not finish the wizard: " + errorText(e));
            return;
        }
        wiz.done = true;
        stopPush();
        location.reload();
    }

    /** Opens the wizard when this is the first run or wizards wait for an admin. */
    async function maybeOpenWizard() {
        const dialog = $("wizard_dialog");
        if (!dialog) return;
        let steps = Array.from(dialog.querySelectorAll(".wizard-step"));
        const pluginSteps = steps.filter((s) => s.dataset.plugin);
        if (!page.firstRun && (!pluginSteps.length || !(can("settings") || page.user && page.user.admin))) return;
        const details = {};
        try {
            const answer = await api("GET", "/api/setup/wizard");
            if (answer && Array.isArray(answer.wizards)) {
                const shown = new Set(answer.wizards.map((w) => w.id));
                for (const w of answer.wizards) details[w.id] = { name: w.name, version: w.version, mandatory: w.mandatory, details: w.details };
                steps = steps.filter((s) => !s.dataset.plugin || shown.has(s.dataset.plugin));
                for (const s of pluginSteps) if (!steps.includes(s)) s.classList.add("wizard-skipped");
            }
        } catch (e) {
            setText($("wizard_error"), "Could not read the wizards: " + errorText(e));
        }
        if (!steps.length || (!page.firstRun && !steps.some((s) => s.dataset.plugin))) return;
        wiz.steps = steps;
        wiz.closable = !page.firstRun && !steps.some((s) => s.classList.contains("mandatory"));
        toggle("wizard_close", wiz.closable);
        if (page.settingsLoaded) steps.forEach(fillInputs);
        callViewModels("onWizardDetails", details);
        showWizardStep(0);
        dialog.showModal();
    }

    /** Wires the wizard's buttons; Escape closes it only when it may be closed. */
    function wireWizard() {
        const dialog = $("wizard_dialog");
        if (!dialog) return;
        $("wizard_prev").addEventListener("click", () => showWizardStep(wiz.index - 1));
        $("wizard_next").addEventListener("click", () => wizardBusy(async () => {
            if (isAclStep(wiz.steps[wiz.index]) && !(await createAdmin())) return;
            wiz.index += 1;
        }));
        $("wizard_finish").addEventListener("click", () => wizardBusy(finishWizard));
        $("wizard_close").addEventListener("click", () => { wiz.done = true; dialog.close(); });
        const acl = $("wizard_firstrun_acl");
        if (acl) {
            // Enter in the access control fields goes on, as the visible button would.
            acl.addEventListener("keydown", (ev) => {
                if (ev.key !== "Enter" || ev.target.tagName !== "INPUT") return;
                ev.preventDefault();
                $(wiz.index === wiz.steps.length - 1 ? "wizard_finish" : "wizard_next").click();
            });
        }
        dialog.addEventListener("cancel", (ev) => { if (!wiz.closable) ev.preventDefault(); });
        dialog.addEventListener("close", () => {
            if (!wiz.done && !wiz.closable && wiz.steps.length) dialog.showModal();
        });
    }

    // ----- start-up ------------------------------------------------------

    /** Starts the default page; false when it goes to the login page instead. */
    async function startIndex() {
        page.firstRun = document.body.dataset.firstRun === "true";
        // Forms in plugin templates must never submit the page.
        document.addEventListener("submit", (ev) => {
            if (!ev.target.hasAttribute("action")) ev.preventDefault();
        }, true);
        document.addEventListener("click", onHashLink);
        window.addEventListener("pagehide", stopPush);
        const clear = $("event_log_clear");
        if (clear) clear.addEventListener("click", () => $("event_log").replaceChildren());
        const menu = $("navbar_toggle");
        if (menu) menu.addEventListener("click", () => {
            const open = $("navbar").classList.toggle("open");
            menu.setAttribute("aria-expanded", String(open));
        });
        const install = $("pluginmanager_install");
        if (install) install.addEventListener("submit", installPlugin);
        const pluginSearch = $("pluginmanager_search");
        if (pluginSearch) pluginSearch.addEventListener("input", filterPlugins);
        const eventFilter = $("event_log_filter");
        if (eventFilter) eventFilter.addEventListener("input", () => filterEvents());
        const reload = $("pluginmanager_reload_button");
        if (reload) reload.addEventListener("click", () => location.reload());
        wireDialogs();
        wireApiKey();
        wireWebcam();
        wireWizard();
        setUser(null);

        const hash = safeDecode(location.hash.slice(1));
        if (!showTab(hash) && tabPanes().length) showTab(tabPanes()[0].id);

        if (!page.firstRun) {
            try {
                setUser(await api("POST", "/api/login", { passive: true }));
            } catch (e) {
                if (e && e.status === 401) {
                    goToLogin();
                    return false;
                }
                showMessage("Could not check who is logged in: " + errorText(e));
            }
        }
        if (page.user && (can("settings_read") || can("settings"))) {
            const error = await loadSettings();
            if (error) showMessage("Could not load the settings: " + error);
        }
        constructViewModels();
        callViewModels("onStartup");
        callViewModels("onBeforeBinding");
        bindText();
        callViewModels("onAfterBinding");
        callViewModels("onAllBound", page.viewModels.map((vm) => vm.instance));
        if (page.user) {
            connectPush();
            await Promise.all([loadJob(), loadWebcams(), loadPlugins(), showPendingAppKeys()]);
        }
        await maybeOpenWizard();
        callViewModels("onStartupComplete");
        return true;
    }

    /** Starts the login page: POST /api/login, then the redirect path. */
    function startLogin() {
        const form = $("login_form");
        const error = $("login_error");
        const button = $("login_button");
        const wanted = document.body.dataset.redirect || "/";
        const redirect = /^\/(?![\/\\])/.test(wanted) ? wanted : "/";
        form.addEventListener("submit", async (ev) => {
            ev.preventDefault();
            setText(error, "");
            const user = $("login_user").value.trim();
            const pass = $("login_pass").value;
            if (!user || !pass) {
                setText(error, "Enter your user name and password.");
                return;
            }
            button.disabled = true;
            try {
                await api("POST", "/api/login", { user, pass });
                location.assign(redirect);
            } catch (e) {
                button.disabled = false;
                setText(error, e && e.status === 403 ? "Wrong user name or password."
                    : e && e.status === 429 ? "Too many failed logins. Try again in a few minutes."
                        : "Logging in failed: " + errorText(e));
            }
        });
    }

    window.Plinth = {
        showTab,
        showMessage,
        refreshBindings: () => bindText(),
        viewModels: page.viewModels,
    };

    /** Runs the start-up of this page, catching everything; then PLINTH_READY. */
    async function start() {
        const login = document.body.dataset.page === "login";
        let ready = true;
        try {
            if (login) startLogin();
            else ready = await startIndex();
        } catch (e) {
            console.warn("Plinth: start-up failed:", e);
            showMessage("The page failed to start: " + errorText(e));
        }
        if (ready) window.PLINTH_READY = true;
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", () => { start(); });
    } else {
        start();
    }
})();
