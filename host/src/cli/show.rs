//! How the command line shows plugins: the table of `plugins list` and the
//! details of `plugins info`.

use crate::plugins::manager::PluginInfo;

/// Every plugin, one row each, with why it does not run under its row.
pub(super) fn table(list: &[PluginInfo]) -> String {
    let rows: Vec<[String; 6]> = list
        .iter()
        .map(|p| {
            [
                p.id.clone(),
                p.state.as_str().to_owned(),
                format!("{:?}", p.source).to_lowercase(),
                p.mode.as_str().to_owned(),
                p.version.clone().unwrap_or_else(|| "-".into()),
                p.name.clone(),
            ]
        })
        .collect();
    let header = ["ID", "STATE", "SOURCE", "RUNS", "VERSION", "NAME"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &[String; 6]| {
        let mut s = String::new();
        for (cell, w) in cells.iter().zip(widths) {
            s.push_str(&format!("{cell:<w$}  "));
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(&header);
    for (row, p) in rows.iter().zip(list) {
        out.push_str(&line(row));
        if let Some(e) = &p.error {
            out.push_str(&format!("    {e}\n"));
        }
    }
    out
}

/// One plugin in detail.
pub(super) fn details(p: &PluginInfo) -> String {
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    let mut out = String::new();
    out.push_str(&format!("{} ({})\n", p.name, p.id));
    out.push_str(&format!("  state:       {}\n", p.state.as_str()));
    if let Some(e) = &p.error {
        out.push_str(&format!("  error:       {e}\n"));
    }
    out.push_str(&format!("  version:     {}\n", opt(&p.version)));
    out.push_str(&format!(
        "  source:      {}\n",
        format!("{:?}", p.source).to_lowercase()
    ));
    out.push_str(&format!("  path:        {}\n", p.path.display()));
    out.push_str(&format!("  runs:        {}\n", p.mode.as_str()));
    if let Some(crash) = &p.crashed_host {
        out.push_str(&format!(
            "  crashed the host: {crash} (it runs isolated since)\n"
        ));
    }
    if p.crashes.crashes > 0 {
        out.push_str(&format!(
            "  crashes:     {} since the host started, {} restarts; last: {}\n",
            p.crashes.crashes,
            p.crashes.restarts,
            opt(&p.crashes.last)
        ));
    }
    out.push_str(&format!("  description: {}\n", opt(&p.description)));
    out.push_str(&format!("  author:      {}\n", opt(&p.author)));
    out.push_str(&format!("  license:     {}\n", opt(&p.license)));
    out.push_str(&format!("  url:         {}\n", opt(&p.url)));
    out.push_str(&format!("  mixins:      {}\n", p.mixins.join(", ")));
    out.push_str(&format!(
        "  restart needing: {}, reload needing: {}\n",
        p.restart_needing, p.reload_needing
    ));
    out
}
