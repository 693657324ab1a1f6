//! Export files: plain, zstd (`.zst`) or gzip (`.gz`) by name; `-` is standard output or input.

use super::PortableError;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

/// Where an export goes.
pub enum Output {
    Plain(BufWriter<Box<dyn Write>>),
    Zstd(zstd::Encoder<'static, BufWriter<Box<dyn Write>>>),
    Gzip(flate2::write::GzEncoder<BufWriter<Box<dyn Write>>>),
}

fn failed(path: &Path) -> impl Fn(std::io::Error) -> PortableError + '_ {
    move |source| PortableError::File {
        path: path.display().to_string(),
        source,
    }
}

impl Output {
    pub fn create(path: &Path) -> Result<Self, PortableError> {
        let sink: Box<dyn Write> = if path.as_os_str() == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(File::create(path).map_err(failed(path))?)
        };
        let sink = BufWriter::with_capacity(256 * 1024, sink);
        let name = path.to_string_lossy();
        Ok(if name.ends_with(".zst") {
            Self::Zstd(zstd::Encoder::new(sink, 3).map_err(failed(path))?)
        } else if name.ends_with(".gz") {
            Self::Gzip(flate2::write::GzEncoder::new(sink, flate2::Compression::default()))
        } else {
            Self::Plain(sink)
        })
    }

    /// Writes one line.
    pub fn line(&mut self, json: &impl serde::Serialize) -> std::io::Result<()> {
        let writer: &mut dyn Write = match self {
            Self::Plain(writer) => writer,
            Self::Zstd(writer) => writer,
            Self::Gzip(writer) => writer,
        };
        serde_json::to_writer(&mut *writer, json)?;
        writer.write_all(b"\n")
    }

    /// Completes the compressed stream and flushes everything.
    pub fn finish(self) -> std::io::Result<()> {
        match self {
            Self::Plain(mut writer) => writer.flush(),
            Self::Zstd(writer) => writer.finish()?.flush(),
            Self::Gzip(writer) => writer.finish()?.flush(),
        }
    }
}

/// The lines of an export file, decompressed by name.
pub fn open(path: &Path) -> Result<Box<dyn BufRead>, PortableError> {
    let source: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(File::open(path).map_err(failed(path))?)
    };
    let source = BufReader::with_capacity(256 * 1024, source);
    let name = path.to_string_lossy();
    Ok(if name.ends_with(".zst") {
        Box::new(BufReader::new(
            zstd::Decoder::with_buffer(source).map_err(failed(path))?,
        ))
    } else if name.ends_with(".gz") {
        Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(source)))
    } else {
        Box::new(source)
    })
}
