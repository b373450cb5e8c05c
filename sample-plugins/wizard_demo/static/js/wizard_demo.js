/*
 * View model of the Wizard Demo sample plugin.
 *
 * Plain JavaScript: no jQuery, no knockout. The page constructs the view model
 * with the settings view model and calls `onWizardDetails` with the details of
 * every wizard shown, keyed by plugin identifier (from GET /api/setup/wizard).
 * This one writes the hint the plugin returned from `get_wizard_details` into
 * the wizard step. The input itself is bound by the page
 * (`value: settings.plugins.wizard_demo.some_key`) and saved when the wizard
 * is finished.
 */
(function () {
    function WizardDemoViewModel(parameters) {
        var self = this;

        self.settings = parameters[0];
        self.details = null;

        self.onWizardDetails = function (byId) {
            var mine = byId && byId.wizard_demo;
            if (!mine || !mine.details) {
                // The wizard is not part of this session (some_key is set).
                return;
            }
            self.details = mine.details;
            var target = document.getElementById("wizard_demo_details");
            if (target) {
                target.textContent = mine.details.hint || "";
            }
        };
    }

    OCTOPRINT_VIEWMODELS.push({
        construct: WizardDemoViewModel,
        dependencies: ["settingsViewModel"],
        elements: ["#wizard_plugin_wizard_demo", "#settings_plugin_wizard_demo"]
    });
})();
