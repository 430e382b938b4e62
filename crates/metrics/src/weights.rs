//! Reading PyTorch state dicts (`torch.save(model.state_dict(), ...)`).
//!
//! A `.safetensors` file is read directly. Any other file (a pickled `.pth`/`.pt`,
//! zip-based or legacy) is converted once to safetensors by a small Python script
//! run with a Python that has torch, and the result is cached as
//! `<cache>/<sha256 of the source>.safetensors` (written atomically; see
//! [`default_cache_dir`]). The Rust side never needs Python again for that file.
//!
//! Python is looked up as `MEG_PYTHON`, then the interpreter of the venv whose
//! libtorch this process loaded, then `python3` on `PATH`.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::Tensor;

/// Named tensors of a state dict, sorted by name.
pub type StateDict = BTreeMap<String, Tensor>;

/// Where conversions are cached: `converted-weights/` in the data cache
/// (`MEG_DATA_DIR`, else `~/.cache/meg/data`; see `meg_datasets::store::data_root`).
pub fn default_cache_dir() -> Result<PathBuf> {
    Ok(meg_datasets::store::data_root()?.join("converted-weights"))
}

/// Loads every tensor of the state dict at `path` (on the CPU), converting a
/// pickled file through Python once and caching the result in the folder `cache`
/// (normally [`default_cache_dir`]).
pub fn load_state_dict(path: &Path, cache: &Path) -> Result<StateDict> {
    let st = if is_safetensors(path)? {
        path.to_path_buf()
    } else {
        converted(path, cache)?
    };
    let tensors = Tensor::read_safetensors(&st)
        .with_context(|| format!("reading weights {}", st.display()))?;
    Ok(tensors.into_iter().collect())
}

/// Copies `sd` into the variables of `vs`: every variable must be present with
/// its exact shape, and `sd` may hold nothing else apart from names for which
/// `ignore` is true (e.g. BatchNorm's `num_batches_tracked`). Values are cast to
/// the variables' kind and device.
pub fn copy_into(
    vs: &tch::nn::VarStore,
    sd: &StateDict,
    ignore: impl Fn(&str) -> bool,
) -> Result<()> {
    let mut vars = vs.variables();
    for k in sd.keys() {
        if !vars.contains_key(k) && !ignore(k) {
            bail!("unexpected tensor `{k}`");
        }
    }
    tch::no_grad(|| {
        for (name, var) in vars.iter_mut() {
            let src = sd
                .get(name)
                .with_context(|| format!("missing tensor `{name}`"))?;
            if src.size() != var.size() {
                bail!(
                    "tensor `{name}` has shape {:?}, expected {:?}",
                    src.size(),
                    var.size()
                );
            }
            var.copy_(&src.to_kind(var.kind()));
        }
        Ok(())
    })
}

/// True when `path` starts like a safetensors file (an 8-byte little-endian
/// header length followed by `{`).
fn is_safetensors(path: &Path) -> Result<bool> {
    let mut f = std::fs::File::open(path)
        .with_context(|| format!("opening weights file {}", path.display()))?;
    let mut head = [0u8; 9];
    match f.read_exact(&mut head) {
        Ok(()) => {
            Ok(head[8] == b'{' && u64::from_le_bytes(head[..8].try_into().unwrap()) < 1 << 30)
        }
        Err(_) => bail!(
            "weights file {} is too short to hold tensors",
            path.display()
        ),
    }
}

/// Fails unless `path` starts as `torch.save` writes: a zip archive (its
/// default since PyTorch 1.6) or a pickle (the legacy format, protocol 2+).
fn check_torch_format(path: &Path) -> Result<()> {
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(path)
        .with_context(|| format!("opening weights file {}", path.display()))?;
    let n = f.read(&mut head)?;
    let zip = n == 4 && head == *b"PK\x03\x04";
    let pickle = n >= 2 && head[0] == 0x80 && (2..=5).contains(&head[1]);
    if !(zip || pickle) {
        bail!(
            "weights file {} is neither safetensors nor a PyTorch state dict (torch.save's zip \
             or pickle format); it starts with bytes {:02x?}",
            path.display(),
            &head[..n]
        );
    }
    Ok(())
}

/// The cached safetensors conversion of the pickled state dict `path`, made now
/// if absent.
pub fn converted(path: &Path, cache: &Path) -> Result<PathBuf> {
    let sha256 = meg_datasets::hash::hash_file(path)?.sha256;
    let out = cache.join(format!("{sha256}.safetensors"));
    if out.exists() {
        return Ok(out);
    }
    check_torch_format(path)?;
    let python = find_python();
    meg_plumbing::io::write_atomic_with(&out, |tmp| {
        let run = Command::new(&python)
            .arg("-c")
            .arg(CONVERT_PY)
            .arg(path)
            .arg(tmp)
            .output()
            .with_context(|| format!("running {}", python.display()))?;
        if !run.status.success() {
            let stderr = String::from_utf8_lossy(&run.stderr);
            if stderr.contains("No module named 'torch'") {
                bail!(
                    "converting {} to safetensors needs a Python with torch, and {} has none: \
                     set MEG_PYTHON, or convert the file to .safetensors yourself",
                    path.display(),
                    python.display()
                );
            }
            // torch's own reason is the last line of its traceback.
            let reason = stderr.trim().lines().last().unwrap_or("no message");
            bail!(
                "torch ({}) could not read {} as a state dict: {reason}",
                python.display(),
                path.display()
            );
        }
        Ok(())
    })?;
    Ok(out)
}

/// The Python used for conversions (see the module docs).
pub fn find_python() -> PathBuf {
    if let Some(p) = std::env::var_os("MEG_PYTHON").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    // <venv>/lib/python3.X/site-packages/torch/lib/libtorch_cpu.so -> <venv>/bin/python
    let lib = meg_nn::RuntimeInfo::query().libtorch_lib;
    if let Some(venv) = Path::new(&lib).ancestors().nth(5) {
        let py = venv.join("bin").join("python");
        if py.exists() {
            return py;
        }
    }
    PathBuf::from("python3")
}

/// argv: SOURCE DEST. Loads a state dict with torch (tensors only) and writes it
/// as safetensors without needing the `safetensors` or `numpy` packages.
const CONVERT_PY: &str = r#"
import ctypes, json, struct, sys
import torch
src, dst = sys.argv[1], sys.argv[2]
obj = torch.load(src, map_location="cpu", weights_only=True)
if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
    obj = obj["state_dict"]
if not isinstance(obj, dict):
    sys.exit(f"{src}: expected a state dict (a mapping of names to tensors), found {type(obj).__name__}")
dtypes = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
          torch.uint8: "U8", torch.bool: "BOOL"}
header, blobs, offset = {}, [], 0
for name in sorted(obj):
    t = obj[name]
    if not isinstance(t, torch.Tensor):
        continue
    if t.dtype not in dtypes:
        sys.exit(f"{src}: tensor {name} has unsupported dtype {t.dtype}")
    t = t.detach().cpu().contiguous()
    # Raw bytes without numpy (a bare torch install has none).
    n = t.numel() * t.element_size()
    data = ctypes.string_at(t.data_ptr(), n) if n else b""
    header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape),
                    "data_offsets": [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
if not header:
    sys.exit(f"{src}: holds no tensors")
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    for b in blobs:
        f.write(b)
"#;
