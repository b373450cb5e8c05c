/*
 * Plinth core client library, served at /static/client.js.
 *
 * Globals it defines (each AssetPlugin's `clientjs` files, served after it as
 * /static/client/<plugin>.js, may use them right away):
 *
 *   OctoPrint.get(url)                 GET, Promise of the parsed JSON answer
 *   OctoPrint.postJson(url, data)      POST a JSON body (adds the CSRF header)
 *   OctoPrint.del(url)                 DELETE (adds the CSRF header)
 *   OctoPrint.request(method, url, data)   any of the above
 *   OctoPrint.plugins                  client components of plugins, by name
 *   OctoPrintClient.registerPluginComponent(name, Ctor)
 *                                      OctoPrint.plugins[name] = new Ctor(OctoPrint)
 *   OCTOPRINT_VIEWMODELS               view models to construct (see plinth.js)
 *
 * Requests send the session cookie; state-changing ones send the value of the
 * `plinth_csrf` cookie as `X-CSRF-Token`. A failed request rejects with
 * `{status, error}` (status 0 when the server could not be reached); an empty
 * answer (204) resolves to null, a non-JSON one to its text.
 */
var OCTOPRINT_VIEWMODELS = window.OCTOPRINT_VIEWMODELS || [];

(function () {
    "use strict";

    /** The value of cookie `name`, or null. */
    function getCookie(name) {
        for (const part of document.cookie.split(";")) {
            const eq = part.indexOf("=");
            if (eq >= 0 && part.slice(0, eq).trim() === name) {
                return decodeURIComponent(part.slice(eq + 1).trim());
            }
        }
        return null;
    }

    /** One request; resolves to the parsed answer, rejects with {status, error}. */
    async function request(method, url, data) {
        const headers = { Accept: "application/json" };
        const init = { method, headers, credentials: "same-origin" };
        if (method !== "GET" && method !== "HEAD") {
            const token = getCookie("plinth_csrf");
            if (token) headers["X-CSRF-Token"] = token;
        }
        if (data !== undefined) {
            headers["Content-Type"] = "application/json";
            init.body = JSON.stringify(data);
        }
        let response;
        try {
            response = await fetch(url, init);
        } catch (e) {
            throw { status: 0, error: "The server cannot be reached (" + ((e && e.message) || e) + ")" };
        }
        let text = "";
        try {
            text = await response.text();
        } catch (e) {
            text = "";
        }
        let body = null;
        if (text) {
            try {
                body = JSON.parse(text);
            } catch (e) {
                body = text;
            }
        }
        if (!response.ok) {
            const error = (body && typeof body === "object" && body.error) ||
                (typeof body === "string" && body.length < 300 && body) ||
                (response.status + " " + response.statusText).trim();
            throw { status: response.status, error: String(error) };
        }
        return body;
    }

    const OctoPrint = {
        get: (url) => request("GET", url),
        postJson: (url, data) => request("POST", url, data === undefined ? {} : data),
        del: (url) => request("DELETE", url),
        request,
        getCookie,
        plugins: {},
    };

    const OctoPrintClient = {
        /** Makes `new Ctor(OctoPrint)` available as OctoPrint.plugins[name]. */
        registerPluginComponent(name, Ctor) {
            try {
                OctoPrint.plugins[name] = new Ctor(OctoPrint);
            } catch (e) {
                console.warn("Plinth: client component " + name + " failed:", e);
            }
            return OctoPrint.plugins[name];
        },
    };

    window.OctoPrint = OctoPrint;
    window.OctoPrintClient = OctoPrintClient;
})();
