//! What each `-f` format means for the graph file (§11.14): its file name
//! extension, and whether Graphviz's `dot` has to lay it out.

use crate::cli::Format;

impl Format {
    /// The extension of the graph file `<output>.<extension>` (also
    /// Graphviz's `-T` name); `None` for formats that are not a graph file.
    pub fn graph_extension(self) -> Option<&'static str> {
        match self {
            Self::Dot => Some("dot"),
            Self::Gif => Some("gif"),
            Self::Jpg => Some("jpg"),
            Self::Pdf => Some("pdf"),
            Self::Png => Some("png"),
            Self::Ps => Some("ps"),
            Self::Svg => Some("svg"),
            Self::Html => Some("html"),
            Self::Horiz | Self::Vert | Self::Classic => None,
        }
    }

    /// Whether Graphviz's `dot` lays the graph out into this format (the
    /// DOT source itself and the HTML page are written without Graphviz).
    pub fn needs_graphviz(self) -> bool {
        !matches!(self, Self::Dot | Self::Html)
    }
}
