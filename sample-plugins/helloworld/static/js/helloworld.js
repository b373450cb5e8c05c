/*
 * View model of the Hello World sample plugin.
 *
 * Plain JavaScript (the page has no jQuery and no knockout): the view model is
 * pushed onto OCTOPRINT_VIEWMODELS as soon as this script runs, and the page
 * constructs it with the settings view model once it has started. The tab
 * shows the current value of `some_setting` through the page's own
 * `text: settings.plugins.helloworld.some_setting` binding; the view model only
 * keeps the settings at hand and, once start-up is complete, marks the tab
 * with `data-ready="true"` (visible, harmless, and easy for tests to check).
 */
(function () {
    function HelloWorldViewModel(parameters) {
        var self = this;

        self.settings = parameters[0];

        self.onStartupComplete = function () {
            var tab = document.getElementById("tab_plugin_helloworld");
            if (tab) {
                tab.setAttribute("data-ready", "true");
            }
        };
    }

    OCTOPRINT_VIEWMODELS.push({
        construct: HelloWorldViewModel,
        dependencies: ["settingsViewModel"],
        elements: ["#tab_plugin_helloworld"]
    });
})();
