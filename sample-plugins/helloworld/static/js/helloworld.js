/*
 * View model of the Hello World sample plugin.
 *
 * It only keeps a reference to the settings view model so that the tab can
 * show the current value of `some_setting`; it changes nothing on the page.
 */
$(function () {
    function HelloWorldViewModel(parameters) {
        var self = this;

        self.settings = parameters[0];
    }

    OCTOPRINT_VIEWMODELS.push({
        construct: HelloWorldViewModel,
        dependencies: ["settingsViewModel"],
        elements: ["#tab_plugin_helloworld"]
    });
});
