//! Server-side SVG charts for the supervisor dashboard (no JavaScript): bar and line
//! charts that a page embeds inline. Accessible: `role="img"`, a `<title>` and `<desc>`
//! named by `aria-labelledby`, every value also written as a text label, and a table
//! fallback is left to the page (the same figures come from the JSON API).

use std::fmt::Write;

/// Escapes text for XML content and attributes.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => o.push(c),
        }
    }
    o
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

/// The chart's id prefix: letters and digits of `id` only.
fn clean_id(id: &str) -> String {
    let s: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(40)
        .collect();
    if s.is_empty() { "chart".into() } else { s }
}

fn open(out: &mut String, id: &str, title: &str, desc: &str, w: u32, h: u32) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" \
         role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" font-family=\"Arial, sans-serif\" font-size=\"12\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        esc(title),
        esc(desc)
    );
}

/// A horizontal bar chart: one bar per (label, value), each labelled with its value.
pub fn bar_chart(id: &str, title: &str, desc: &str, bars: &[(String, f64)]) -> String {
    let id = clean_id(id);
    let (label_w, bar_w, row_h, top) = (180.0, 360.0, 26.0, 34.0);
    let h = (top + row_h * bars.len().max(1) as f64 + 10.0) as u32;
    let w = (label_w + bar_w + 70.0) as u32;
    let max = bars.iter().map(|b| b.1).fold(0.0_f64, f64::max);
    let mut out = String::new();
    open(&mut out, &id, title, desc, w, h);
    let _ = write!(
        out,
        "<text x=\"8\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        esc(&short(title, 70))
    );
    if bars.is_empty() {
        let _ = write!(out, "<text x=\"8\" y=\"{}\">—</text>", top + 16.0);
    }
    for (i, (label, value)) in bars.iter().enumerate() {
        let y = top + row_h * i as f64;
        let len = if max > 0.0 {
            (value.max(0.0) / max) * bar_w
        } else {
            0.0
        };
        let _ = write!(
            out,
            "<g><text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{label_w:.0}\" y=\"{:.1}\" width=\"{len:.1}\" height=\"{:.1}\" fill=\"#0b5ea8\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            label_w - 6.0,
            y + row_h * 0.65,
            esc(&short(label, 28)),
            y + 4.0,
            row_h - 8.0,
            label_w + len + 4.0,
            y + row_h * 0.65,
            fmt_value(*value)
        );
    }
    out.push_str("</svg>");
    out
}

/// A line chart of one or more series over the same x labels (months), each point
/// labelled with its value; series are told apart by colour and dash and named in a
/// legend.
pub fn line_chart(
    id: &str,
    title: &str,
    desc: &str,
    x: &[String],
    series: &[(String, Vec<f64>)],
) -> String {
    let id = clean_id(id);
    let (left, top, plot_w, plot_h) = (50.0, 40.0, 520.0, 200.0);
    let legend_h = 18.0 * series.len() as f64;
    let w = (left + plot_w + 30.0) as u32;
    let h = (top + plot_h + 40.0 + legend_h) as u32;
    let max = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let colours = ["#0b5ea8", "#b3261e", "#2e7d32", "#6a1b9a", "#ef6c00"];
    let dashes = ["", "6 3", "2 2", "8 2 2 2", "1 3"];
    let mut out = String::new();
    open(&mut out, &id, title, desc, w, h);
    let _ = write!(
        out,
        "<text x=\"8\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        esc(&short(title, 70))
    );
    let _ = write!(
        out,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#5b6570\"/>\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"#5b6570\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>",
        top + plot_h,
        left + plot_w,
        top + plot_h,
        top + plot_h,
        left - 4.0,
        top + 4.0,
        fmt_value(max),
        left - 4.0,
        top + plot_h
    );
    let step = if x.len() > 1 {
        plot_w / (x.len() - 1) as f64
    } else {
        0.0
    };
    for (i, label) in x.iter().enumerate() {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            left + step * i as f64,
            top + plot_h + 16.0,
            esc(&short(label, 10))
        );
    }
    for (si, (name, values)) in series.iter().enumerate() {
        let colour = colours[si % colours.len()];
        let dash = dashes[si % dashes.len()];
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                format!(
                    "{:.1},{:.1}",
                    left + step * i as f64,
                    top + plot_h - v.max(0.0) / max * plot_h
                )
            })
            .collect();
        let _ = write!(
            out,
            "<g><polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\" points=\"{}\"/>",
            points.join(" ")
        );
        for (i, v) in values.iter().enumerate() {
            let (px, py) = (
                left + step * i as f64,
                top + plot_h - v.max(0.0) / max * plot_h,
            );
            let _ = write!(
                out,
                "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"3\" fill=\"{colour}\"/><text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\">{}</text>",
                py - 6.0,
                fmt_value(*v)
            );
        }
        let ly = top + plot_h + 34.0 + 18.0 * si as f64;
        let _ = write!(
            out,
            "<line x1=\"{left}\" y1=\"{ly:.1}\" x2=\"{}\" y2=\"{ly:.1}\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\"/>\
             <text x=\"{}\" y=\"{:.1}\">{}</text></g>",
            left + 24.0,
            left + 30.0,
            ly + 4.0,
            esc(&short(name, 60))
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_chart_is_labelled_and_escaped() {
        let svg = bar_chart(
            "by-region",
            "Обращения <по регионам>",
            "Число обращений за 2026-11",
            &[("Астана".into(), 12.0), ("A&B".into(), 3.5)],
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("aria-labelledby=\"byregion-title byregion-desc\""));
        assert!(svg.contains("<title id=\"byregion-title\">Обращения &lt;по регионам&gt;</title>"));
        assert!(svg.contains(">Астана<") && svg.contains(">12<") && svg.contains(">3.50<"));
        assert!(svg.contains("A&amp;B") && !svg.contains("A&B"));
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn a_line_chart_has_a_legend_and_point_labels() {
        let svg = line_chart(
            "m",
            "Оценки",
            "Средняя оценка по месяцам",
            &["2026-10".into(), "2026-11".into()],
            &[
                ("Средняя".into(), vec![4.0, 4.5]),
                ("Жалобы".into(), vec![1.0, 0.0]),
            ],
        );
        assert!(svg.contains(">Средняя<") && svg.contains(">Жалобы<"));
        assert!(svg.contains(">4.50<") && svg.contains(">2026-11<"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        // Empty input still draws a valid, titled chart.
        assert!(bar_chart("", "t", "d", &[]).contains("<title id=\"chart-title\">t</title>"));
    }
}
