/*
 * The Hello World plugin's part of the client library (`clientjs` asset):
 * served by the host as /static/client/helloworld.js, it gives scripts on the page
 * `OctoPrint.plugins.helloworld`, a wrapper around the plugin's Simple API.
 */
(function () {
    function HelloWorldClient(base) {
        this.base = base;
    }

    /** GET /api/plugin/helloworld: resolves to `{"foo": "bar"}`. */
    HelloWorldClient.prototype.get = function () {
        return this.base.get("/api/plugin/helloworld");
    };

    /** Runs `command1` (no parameters). */
    HelloWorldClient.prototype.command1 = function () {
        return this.base.postJson("/api/plugin/helloworld", {command: "command1"});
    };

    OctoPrintClient.registerPluginComponent("helloworld", HelloWorldClient);
})();
