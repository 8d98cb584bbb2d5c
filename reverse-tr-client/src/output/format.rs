//! The outputs' own choices: the graph file's format (§11.14), with its
//! file name extension and whether Graphviz's `dot` has to lay it out, and
//! the view a trace run prints on stdout.

/// The format of the graph file `<output>.<extension>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GraphFormat {
    Dot,
    Gif,
    Jpg,
    Pdf,
    Png,
    Ps,
    Svg,
    /// The graph as an interactive page (no Graphviz needed).
    Html,
}

impl GraphFormat {
    /// The extension of the graph file `<output>.<extension>` (also
    /// Graphviz's `-T` name).
    pub(crate) fn extension(self) -> &'static str {
        match self {
            Self::Dot => "dot",
            Self::Gif => "gif",
            Self::Jpg => "jpg",
            Self::Pdf => "pdf",
            Self::Png => "png",
            Self::Ps => "ps",
            Self::Svg => "svg",
            Self::Html => "html",
        }
    }

    /// Whether Graphviz's `dot` lays the graph out into this format (the
    /// DOT source itself and the HTML page are written without Graphviz).
    pub(crate) fn needs_graphviz(self) -> bool {
        !matches!(self, Self::Dot | Self::Html)
    }
}

/// What a trace run prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// The text report.
    Text,
    /// The hops as traceroute(8) prints them.
    Classic,
    /// The hop table as CSV.
    Csv,
    /// Our JSON report.
    Json,
}
