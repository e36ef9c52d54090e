//! `tdsm merge`: concatenate the shards of one sharded generation run in order.

use anyhow::Result;

use crate::cli::MergeArgs;
use crate::h5io::{ShowerFile, ShowerWriter};
use crate::shard::{check_shards, read_sidecar};

/// Runs the command.
pub fn run(a: MergeArgs) -> Result<()> {
    let items = a.shards.iter().map(|p| Ok((p.clone(), read_sidecar(p)?))).collect::<Result<Vec<_>>>()?;
    let order = check_shards(&items)?;
    let files = order.iter().map(|&i| ShowerFile::open(&items[i].0, None)).collect::<Result<Vec<_>>>()?;
    let nv = files[0].n_voxels;
    for (f, &i) in files.iter().zip(&order) {
        if f.n_voxels != nv || f.n != items[i].1.count {
            anyhow::bail!("{}: holds {} showers of {} voxels, its sidecar says {} of {nv}", items[i].0.display(), f.n, f.n_voxels, items[i].1.count);
        }
    }
    let total = items[0].1.total;
    let mut w = ShowerWriter::create(&a.out, total, nv)?;
    for f in &files {
        f.for_each_chunk(f.chunk_rows(), |_, e, v| w.write(e, v))?;
    }
    w.finish()?;
    eprintln!("merged {} shards ({total} showers) into {}", files.len(), a.out.display());
    Ok(())
}
