/*
 * The core sections of Plinth's settings dialog, served at /static/settings.js:
 * Your account (password; the API key is wired in plinth.js), Users (for the
 * administrators: add, change, deactivate, remove, through OctoPrint's
 * access API), Server and Printer (plain `data-bind` inputs saved with the
 * dialog, plus the temperature presets edited here), Printer profiles (for
 * `settings`: add, change, make default, remove, through
 * /api/printerprofiles) and Webcams (what the webcam plugins provide).
 *
 * Users and printer profiles are changed at once, as in OctoPrint; the rest
 * is saved by the dialog's Save button.
 */
(function () {
    "use strict";

    const $ = (id) => document.getElementById(id);
    const api = (method, url, data) => window.OctoPrint.request(method, url, data);
    const errorText = (e) => (e && (e.error || e.message)) || String(e);

    /** An element: tag, attributes (class, dataset, on<event>), children. */
    function h(tag, attrs, ...children) {
        const el = document.createElement(tag);
        for (const [k, v] of Object.entries(attrs || {})) {
            if (v === undefined || v === null || v === false) continue;
            if (k === "dataset") Object.assign(el.dataset, v);
            else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
            else if (k in el && typeof v !== "string") el[k] = v;
            else el.setAttribute(k, v === true ? "" : v);
        }
        for (const c of children.flat()) {
            if (c !== null && c !== undefined && c !== false) el.append(c);
        }
        return el;
    }

    function showError(id, text) {
        const el = $(id);
        if (!el) return;
        el.textContent = text || "";
        el.hidden = !text;
    }

    function CoreSettingsViewModel() {
        const self = this;
        self.permissions = [];
        self.users = [];
        self.profiles = {};
        self.editingUser = null; // null: adding
        self.editingProfile = null; // null: adding
        self.presets = [];
        self.presetsShown = "[]";
        self.userGroup = [];

        /** Shows the sections (and their links) the user may use. */
        self.showAllowed = function () {
            document.querySelectorAll("#settings_dialog [data-needs]").forEach((el) => {
                el.hidden = !self.login.hasPermission(el.dataset.needs);
            });
        };

        // ----- your account -----

        self.changePassword = async function (ev) {
            ev.preventDefault();
            const status = $("password_status");
            status.classList.remove("error");
            const [current, fresh, repeat] = ["password_current", "password_new", "password_repeat"].map((id) => $(id).value);
            const fail = (text) => { status.textContent = text; status.classList.add("error"); };
            if (!fresh) return fail("Type a new password.");
            if (fresh !== repeat) return fail("The two new passwords differ.");
            try {
                await api("PUT", "/api/access/users/" + encodeURIComponent(self.login.username) + "/password", { current, password: fresh });
                ["password_current", "password_new", "password_repeat"].forEach((id) => { $(id).value = ""; });
                status.textContent = "Your password was changed.";
            } catch (e) {
                fail("Could not change the password: " + errorText(e));
            }
        };

        // ----- users -----

        self.loadUsers = async function () {
            const body = document.querySelector("#users_table tbody");
            if (!body || !self.login.isAdmin) return;
            try {
                const [users, perms, groups] = await Promise.all(
                    ["users", "permissions", "groups"].map((what) => api("GET", "/api/access/" + what)));
                self.users = users.users || [];
                self.permissions = perms.permissions || [];
                const group = (groups.groups || []).find((g) => g.key === "users");
                self.userGroup = group ? group.permissions : [];
                body.replaceChildren(...self.users.map(self.userRow));
            } catch (e) {
                body.replaceChildren(h("tr", null, h("td", { colspan: "5", class: "error" }, "Could not list the users: " + errorText(e))));
            }
        };

        self.userRow = function (u) {
            const me = u.name === self.login.username;
            return h("tr", { dataset: { user: u.name } },
                h("td", null, h("strong", null, u.name), me ? h("span", { class: "muted small" }, " (you)") : null),
                h("td", null, u.admin ? "administrator" : "user"),
                h("td", null, h("input", {
                    type: "checkbox", class: "user-active", checked: !!u.active, disabled: me,
                    title: me ? "You cannot deactivate yourself" : "Can log in",
                    onchange: (ev) => self.changeUser(u.name, { active: ev.target.checked }),
                })),
                h("td", { class: "small" }, u.admin ? "all" : `${(u.permissions || []).length} of ${self.permissions.length}`),
                h("td", null,
                    h("button", { type: "button", class: "user-edit", onclick: () => self.editUser(u) }, "Edit"), " ",
                    h("button", {
                        type: "button", class: "user-remove", disabled: me,
                        title: me ? "You cannot remove yourself" : null,
                        onclick: () => self.removeUser(u.name),
                    }, "Remove")));
        };

        /** Opens the editor for user `u`, or for a new user. */
        self.editUser = function (u) {
            self.editingUser = u ? u.name : null;
            $("user_editor_title").textContent = u ? `Change ${u.name}` : "Add a user";
            $("user_name").value = u ? u.name : "";
            $("user_name").disabled = !!u;
            $("user_password").value = "";
            $("user_password").placeholder = u ? "unchanged" : "";
            $("user_admin").checked = !!(u && u.admin);
            $("user_active").checked = u ? !!u.active : true;
            // A new user, or an administrator (who has all), starts from the
            // `users` group's permissions.
            const own = new Set(u && !u.admin ? u.permissions : self.userGroup);
            const me = !!u && u.name === self.login.username;
            ["user_password", "user_active", "user_admin"].forEach((id) => { $(id).disabled = me; });
            $("user_self_note").hidden = !me;
            $("user_permissions").replaceChildren(h("legend", null, "Permissions (administrators have all)"),
                ...self.permissions.map((p) => h("label", { class: "inline", title: p.description },
                    h("input", { type: "checkbox", value: p.key, checked: own.has(p.key) }),
                    ` ${p.description || p.name}`, p.dangerous ? h("span", { class: "badge badge-failed" }, "dangerous") : null)));
            showError("user_error", "");
            self.lockPermissions();
            $("user_editor").hidden = false;
            $("user_add").hidden = true;
            $("user_name").focus();
        };

        /** Administrators have every permission: their boxes are not for ticking. */
        self.lockPermissions = function () {
            const admin = $("user_admin").checked;
            document.querySelectorAll("#user_permissions input").forEach((i) => { i.disabled = admin; });
        };

        self.closeUserEditor = function () {
            $("user_editor").hidden = true;
            $("user_add").hidden = false;
        };

        self.saveUser = async function (ev) {
            ev.preventDefault();
            const admin = $("user_admin").checked;
            const permissions = admin ? [] : [...document.querySelectorAll("#user_permissions input:checked")].map((i) => i.value);
            const active = $("user_active").checked;
            const password = $("user_password").value;
            try {
                if (self.editingUser === null) {
                    const name = $("user_name").value.trim();
                    if (!name) return showError("user_error", "Give the user a name.");
                    if (!password) return showError("user_error", "Give the user a password.");
                    await api("POST", "/api/access/users", { name, password, admin, active, permissions });
                } else if (self.editingUser === self.login.username) {
                    await api("PUT", "/api/access/users/" + encodeURIComponent(self.editingUser), { permissions });
                } else {
                    const name = encodeURIComponent(self.editingUser);
                    await api("PUT", "/api/access/users/" + name, { admin, active, permissions });
                    if (password) await api("PUT", `/api/access/users/${name}/password`, { password });
                }
                self.closeUserEditor();
                await self.loadUsers();
            } catch (e) {
                showError("user_error", "Could not save the user: " + errorText(e));
            }
        };

        self.changeUser = async function (name, change) {
            try {
                await api("PUT", "/api/access/users/" + encodeURIComponent(name), change);
            } catch (e) {
                window.Plinth.showMessage(`Could not change ${name}: ${errorText(e)}`, "error");
            }
            await self.loadUsers();
        };

        self.removeUser = async function (name) {
            if (!window.confirm(`Remove the user ${name}? Their API key and application keys stop working.`)) return;
            try {
                await api("DELETE", "/api/access/users/" + encodeURIComponent(name));
            } catch (e) {
                window.Plinth.showMessage(`Could not remove ${name}: ${errorText(e)}`, "error");
            }
            await self.loadUsers();
        };

        // ----- temperature presets -----

        self.showPresets = function () {
            const tree = self.settings.settings || {};
            const stored = tree.temperature && Array.isArray(tree.temperature.profiles) ? tree.temperature.profiles : [];
            self.presets = stored.map((p) => Object.assign({}, p));
            self.presetsShown = JSON.stringify(self.cleanPresets());
            self.drawPresets();
        };

        self.drawPresets = function () {
            const body = document.querySelector("#presets_table tbody");
            if (!body) return;
            const field = (preset, key, type) => h("input", {
                type, class: `preset-${key}`, value: preset[key] === null || preset[key] === undefined ? "" : String(preset[key]),
                min: type === "number" ? "0" : null,
                oninput: (ev) => {
                    const v = ev.target.value;
                    preset[key] = type === "number" ? (v === "" ? null : Number(v)) : v;
                },
            });
            body.replaceChildren(...self.presets.map((preset, i) => h("tr", null,
                h("td", null, field(preset, "name", "text")),
                h("td", null, field(preset, "extruder", "number")),
                h("td", null, field(preset, "bed", "number")),
                h("td", null, h("button", {
                    type: "button", class: "preset-remove",
                    onclick: () => { self.presets.splice(i, 1); self.drawPresets(); },
                }, "Remove")))));
        };

        /** The presets as stored: named ones, numbers for the targets. */
        self.cleanPresets = function () {
            return self.presets
                .filter((p) => String(p.name || "").trim())
                .map((p) => ({ name: String(p.name).trim(), extruder: p.extruder ?? 0, bed: p.bed ?? 0, chamber: p.chamber ?? null }));
        };

        /** Puts changed presets into the settings the dialog saves. */
        self.onSettingsBeforeSave = function () {
            const tree = self.settings.settings;
            if (!tree || !self.login.hasPermission("settings")) return;
            const presets = self.cleanPresets();
            if (JSON.stringify(presets) === self.presetsShown) return;
            tree.temperature = Object.assign({}, tree.temperature, { profiles: presets });
        };

        // ----- printer profiles -----

        self.loadProfiles = async function () {
            const body = document.querySelector("#profiles_table tbody");
            if (!body || !self.login.hasPermission("settings")) return;
            try {
                const answer = await api("GET", "/api/printerprofiles");
                self.profiles = answer.profiles || {};
                body.replaceChildren(...Object.values(self.profiles).map(self.profileRow));
            } catch (e) {
                body.replaceChildren(h("tr", null, h("td", { colspan: "5", class: "error" }, "Could not list the profiles: " + errorText(e))));
            }
        };

        self.profileRow = function (p) {
            const v = p.volume || {};
            const size = v.formFactor === "circular" ? `\u2300 ${v.width} \u00d7 ${v.height} mm` : `${v.width} \u00d7 ${v.depth} \u00d7 ${v.height} mm`;
            return h("tr", { dataset: { profile: p.id } },
                h("td", null, h("strong", null, p.name || p.id)),
                h("td", null, p.model || ""),
                h("td", { class: "small" }, size),
                h("td", null,
                    p.default ? h("span", { class: "badge badge-enabled" }, "default") : null, " ",
                    p.current ? h("span", { class: "badge" }, "current") : null),
                h("td", null,
                    h("button", { type: "button", class: "profile-edit", onclick: () => self.editProfile(p) }, "Edit"), " ",
                    h("button", { type: "button", class: "profile-default", disabled: !!p.default, onclick: () => self.profileCommand("PATCH", p.id, { profile: { default: true } }) }, "Make default"), " ",
                    h("button", {
                        type: "button", class: "profile-remove", disabled: !!(p.default || p.current),
                        title: p.default || p.current ? "The default and the current profile cannot be removed" : null,
                        onclick: () => window.confirm(`Remove the printer profile ${p.name || p.id}?`) && self.profileCommand("DELETE", p.id),
                    }, "Remove")));
        };

        self.profileCommand = async function (method, id, body) {
            try {
                await api(method, "/api/printerprofiles/" + encodeURIComponent(id), body);
            } catch (e) {
                window.Plinth.showMessage("Could not change the printer profile: " + errorText(e), "error");
            }
            await self.loadProfiles();
        };

        /** Opens the editor for profile `p`, or a new one based on the default. */
        self.editProfile = function (p) {
            const base = p || Object.values(self.profiles).find((x) => x.default) || {};
            const v = base.volume || {};
            const ex = base.extruder || {};
            self.editingProfile = p ? p.id : null;
            $("profile_editor_title").textContent = p ? `Change ${p.name || p.id}` : "New profile";
            $("profile_id").value = p ? p.id : "";
            $("profile_id").disabled = !!p;
            $("profile_name").value = p ? base.name || "" : "";
            $("profile_model").value = base.model || "";
            $("profile_form").value = v.formFactor || "rectangular";
            $("profile_origin").value = v.origin || "lowerleft";
            $("profile_width").value = v.width ?? "";
            $("profile_depth").value = v.depth ?? "";
            $("profile_height").value = v.height ?? "";
            $("profile_heated_bed").checked = !!base.heatedBed;
            $("profile_heated_chamber").checked = !!base.heatedChamber;
            $("profile_extruders").value = ex.count ?? 1;
            $("profile_nozzle").value = ex.nozzleDiameter ?? 0.4;
            showError("profile_error", "");
            $("profile_editor").hidden = false;
            $("profile_add").hidden = true;
        };

        self.closeProfileEditor = function () {
            $("profile_editor").hidden = true;
            $("profile_add").hidden = false;
        };

        self.saveProfile = async function (ev) {
            ev.preventDefault();
            const number = (id) => Number($(id).value);
            const profile = {
                name: $("profile_name").value.trim(),
                model: $("profile_model").value.trim(),
                heatedBed: $("profile_heated_bed").checked,
                heatedChamber: $("profile_heated_chamber").checked,
                volume: {
                    formFactor: $("profile_form").value, origin: $("profile_origin").value,
                    width: number("profile_width"), depth: number("profile_depth"), height: number("profile_height"),
                },
                extruder: { count: number("profile_extruders"), nozzleDiameter: number("profile_nozzle") },
            };
            if (!profile.name) return showError("profile_error", "Give the profile a name.");
            try {
                if (self.editingProfile === null) {
                    const id = $("profile_id").value.trim();
                    if (!id) return showError("profile_error", "Give the profile an identifier (letters, digits, _ and -).");
                    const base = Object.values(self.profiles).find((x) => x.default);
                    await api("POST", "/api/printerprofiles", { profile: Object.assign({ id }, profile), basedOn: base ? base.id : undefined });
                } else {
                    await api("PATCH", "/api/printerprofiles/" + encodeURIComponent(self.editingProfile), { profile });
                }
                self.closeProfileEditor();
                await self.loadProfiles();
            } catch (e) {
                showError("profile_error", "Could not save the profile: " + errorText(e));
            }
        };

        // ----- webcams -----

        self.showWebcams = function () {
            const body = document.querySelector("#webcams_table tbody");
            if (!body) return;
            const tree = self.settings.settings || {};
            const cams = tree.webcam && Array.isArray(tree.webcam.webcams) ? tree.webcam.webcams : [];
            if (!cams.length) {
                body.replaceChildren(h("tr", null, h("td", { colspan: "4", class: "muted" }, "No webcam plugin provides a webcam.")));
                return;
            }
            body.replaceChildren(...cams.map((c) => {
                const stream = (c.compat && c.compat.stream) || (c.extras && c.extras.stream) || "";
                return h("tr", { dataset: { webcam: c.name } },
                    h("td", null, c.displayName || c.name),
                    h("td", null, c.provider || ""),
                    h("td", { class: "small" }, stream),
                    h("td", null, c.canSnapshot
                        ? h("a", { href: `/api/webcams/${encodeURIComponent(c.name)}/snapshot`, target: "_blank", rel: "noopener" }, "snapshot")
                        : h("span", { class: "muted" }, "none")));
            }));
        };

        // ----- the dialog -----

        self.onSettingsShown = function () {
            self.showAllowed();
            self.closeUserEditor();
            self.closeProfileEditor();
            ["password_current", "password_new", "password_repeat"].forEach((id) => { $(id).value = ""; });
            $("password_status").textContent = "";
            self.showPresets();
            self.showWebcams();
            self.loadUsers();
            self.loadProfiles();
        };

        self.onStartup = function () {
            const on = (id, event, fn) => { const el = $(id); if (el) el.addEventListener(event, fn); };
            on("password_form", "submit", self.changePassword);
            on("user_add", "click", () => self.editUser(null));
            on("user_editor", "submit", self.saveUser);
            on("user_cancel", "click", self.closeUserEditor);
            on("user_admin", "change", self.lockPermissions);
            on("preset_add", "click", () => { self.presets.push({ name: "", extruder: 200, bed: 60, chamber: null }); self.drawPresets(); });
            on("profile_add", "click", () => self.editProfile(null));
            on("profile_editor", "submit", self.saveProfile);
            on("profile_cancel", "click", self.closeProfileEditor);
        };
    }

    window.OCTOPRINT_VIEWMODELS = window.OCTOPRINT_VIEWMODELS || [];
    window.OCTOPRINT_VIEWMODELS.push({
        construct: function (deps) {
            const vm = new CoreSettingsViewModel();
            vm.settings = deps[0];
            vm.login = deps[1];
            return vm;
        },
        dependencies: ["settingsViewModel", "loginStateViewModel"],
        name: "coreSettingsViewModel",
    });
})();
