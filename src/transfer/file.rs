//! Export files: plain, zstd (`.zst`) or gzip (`.gz`) by name; `-` is standard output or input.

use super::TransferError;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

/// Where an export goes. A file is written under a temporary name and renamed when complete, so
/// a failed export never replaces an earlier good one.
pub struct Output {
    stream: Stream,
    /// (temporary, final) names of a file; none for standard output.
    rename: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

enum Stream {
    Plain(BufWriter<Box<dyn Write>>),
    Zstd(zstd::Encoder<'static, BufWriter<Box<dyn Write>>>),
    Gzip(flate2::write::GzEncoder<BufWriter<Box<dyn Write>>>),
}

fn failed(path: &Path) -> impl Fn(std::io::Error) -> TransferError + '_ {
    move |source| TransferError::File {
        path: path.display().to_string(),
        source,
    }
}

impl Output {
    pub fn create(path: &Path) -> Result<Self, TransferError> {
        let mut rename = None;
        let sink: Box<dyn Write> = if path.as_os_str() == "-" {
            Box::new(std::io::stdout())
        } else {
            let mut temporary = path.as_os_str().to_owned();
            temporary.push(".partial");
            let temporary = std::path::PathBuf::from(temporary);
            let file = File::create(&temporary).map_err(failed(&temporary))?;
            rename = Some((temporary, path.to_path_buf()));
            Box::new(file)
        };
        let sink = BufWriter::with_capacity(256 * 1024, sink);
        let name = path.to_string_lossy();
        let stream = if name.ends_with(".zst") {
            let mut encoder = zstd::Encoder::new(sink, 3).map_err(failed(path))?;
            encoder.include_checksum(true).map_err(failed(path))?;
            Stream::Zstd(encoder)
        } else if name.ends_with(".gz") {
            Stream::Gzip(flate2::write::GzEncoder::new(sink, flate2::Compression::default()))
        } else {
            Stream::Plain(sink)
        };
        Ok(Self { stream, rename })
    }

    /// Writes one line.
    pub fn line(&mut self, json: &impl serde::Serialize) -> std::io::Result<()> {
        let writer: &mut dyn Write = match &mut self.stream {
            Stream::Plain(writer) => writer,
            Stream::Zstd(writer) => writer,
            Stream::Gzip(writer) => writer,
        };
        serde_json::to_writer(&mut *writer, json)?;
        writer.write_all(b"\n")
    }

    /// Completes the compressed stream, flushes everything and gives the file its name.
    pub fn finish(self) -> std::io::Result<()> {
        match self.stream {
            Stream::Plain(mut writer) => writer.flush()?,
            Stream::Zstd(writer) => writer.finish()?.flush()?,
            Stream::Gzip(writer) => writer.finish()?.flush()?,
        }
        if let Some((temporary, path)) = self.rename {
            std::fs::rename(temporary, path)?;
        }
        Ok(())
    }
}

/// The lines of an export file, decompressed by name.
pub fn open(path: &Path) -> Result<Box<dyn BufRead>, TransferError> {
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
