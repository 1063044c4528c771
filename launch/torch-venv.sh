# Sourced by the benchmark scripts that run PyTorch next to the trainer: sets `python` to the
# interpreter of a virtual environment under .build/ that has PyTorch's CPU wheel, installing it
# the first time (from a local wheel folder if pip is configured with one, else PyTorch's CPU index,
# else PyPI). Never a test dependency.
venv="$root/.build/venv-torch"
python="$venv/bin/python"
if ! "$python" -c "import torch" 2>/dev/null; then
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" 2>/dev/null; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get install -y -qq python3-venv >/dev/null
  fi
  echo "$(basename "$0"): installing PyTorch (CPU) into $venv" >&2
  python3 -m venv "$venv"
  "$python" -m pip install -q --no-index --no-deps torch 2>/dev/null \
    || "$python" -m pip install -q --timeout 30 --retries 1 torch --index-url https://download.pytorch.org/whl/cpu \
         --extra-index-url https://pypi.org/simple 2>/dev/null \
    || "$python" -m pip install -q torch
  "$python" -m pip install -q torch numpy  # the dependencies of a wheel installed without them
fi
