# energy-grid: `make test` sets up every tool it needs and runs every check.
#
# One build profile (dev) serves all tests, so nothing is compiled twice; the
# release profile is only for `gridctl demo` / `serve` and the Lambda zips.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

VENV    := .venv
TOOLS   := $(VENV)/.installed
PYTHON  ?= python3
# The functions' arm64 zips, as `sam build` makes them (the release profile).
LAMBDA_BUILD := cargo lambda build --release --arm64 --output-format zip --locked
# Tools from the venv (moto_server, cargo-lambda, sam, cfn-lint) come first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: test tools browser fmt-check lint template-lint unit deploy-rehearsal iam-tools demo serve lambda clean-tools bench bench-tools soak soak-aws

test: tools browser fmt-check lint template-lint unit deploy-rehearsal

## Create .venv with the pinned dev tools when it is missing or requirements changed.
tools: $(TOOLS)
$(TOOLS): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## Chromium for the portal's browser test (Debian package), when it is missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		echo "installing chromium for the portal's browser test"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

fmt-check:
	cargo fmt --all --check

lint:
	cargo clippy --workspace --all-targets --locked -- -D warnings

## The SAM template: cfn-lint, and SAM's own validation (which runs cfn-lint's SAM rules).
template-lint: tools
	cfn-lint infra/template.yaml
	SAM_CLI_TELEMETRY=0 sam validate --lint --region us-east-1

## Every test of the workspace, with one moto server (AWS emulator) for the whole run;
## cargo-nextest when installed, cargo test otherwise.
unit: tools
	@if cargo nextest --version >/dev/null 2>&1; then \
		scripts/with-moto cargo nextest run --workspace --locked --no-fail-fast; \
	else \
		scripts/with-moto cargo test --workspace --locked --no-fail-fast; \
	fi

## The deploy rehearsal (scripts/deploy_rehearsal.py, docs/deploy.md): `sam build` for
## real (cargo lambda, arm64), the built template deployed as two stacks to a moto server,
## each deployed zip checked, a whole period run through the deployed functions (host
## builds under cargo lambda's emulator, with the stack's configuration), and every AWS
## request they made checked against their IAM roles by a real policy evaluator.
deploy-rehearsal: tools iam-tools
	rustup target add aarch64-unknown-linux-gnu
	cargo build --locked --workspace --all-targets
	scripts/with-moto $(VENV)/bin/python3 scripts/deploy_rehearsal.py

## The IAM policy evaluator (npm, pinned in scripts/iam/package-lock.json).
iam-tools: scripts/iam/node_modules/.installed
scripts/iam/node_modules/.installed: scripts/iam/package-lock.json
	cd scripts/iam && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## The hot paths measured (release builds), each figure beside its target; JSON in
## target/bench/. Each HTTP workload is timed right after a bare hyper server (the
## bare_http example) and given as a share of it; `BASELINE=path/to/gridctl` runs that
## build's own bench of each part right after this one's and prints both side by side. The Lambda part reads the arm64 zips, and times the cold starts of
## the functions and of a minimal `hello` function built for this machine with the same
## (release) profile, over a moto server; off arm64 it also runs the zips' bootstraps
## under qemu-user. The cost probe counts AWS requests per reading; criterion times the
## pure code. The host builds of the functions, `hello` and the probes are one cargo
## invocation, so their dependencies compile once. See docs/performance.md.
bench: bench-tools tools
	rustup target add aarch64-unknown-linux-gnu
	$(LAMBDA_BUILD) -p grid-functions -p lambda-hello
	cargo build --release --locked -p grid-functions -p lambda-hello --bins --example provision --example aws_cost
	cargo build --release --locked -p gridctl --bins --example bare_http
	scripts/with-moto sh -c 'target/release/gridctl bench --out target/bench $(if $(BASELINE),--baseline $(BASELINE)) && target/release/examples/aws_cost'
	cargo bench --locked -p grid-core --bench core -- --warm-up-time 1 --measurement-time 2

## wrk (Debian package) drives the HTTP load; qemu-user and Debian's arm64 C library run
## the arm64 functions on another architecture.
bench-tools:
	@command -v wrk >/dev/null 2>&1 || { \
		echo "installing wrk for the HTTP benchmark"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk; }
	@[ "$$(uname -m)" = aarch64 ] || { command -v qemu-aarch64 >/dev/null 2>&1 && [ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]; } || { \
		echo "installing qemu-user and the arm64 C library for the functions' cold starts"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user libc6-arm64-cross; }

demo:
	cargo run --release -p gridctl -- demo

## A bounded soak, not part of `make test` (~2 minutes here): the whole grid in one
## process (serve's router and jobs, the development ledger, 20 producers' sources,
## 100 consumers) trading 48 periods while 20% of ledger requests fail, 8 HTTP clients
## store and read items meanwhile; it checks the books and prints what was served and
## what was lost (must be 0; a loss fails it).
soak:
	mkdir -p target/soak
	RUST_LOG=error cargo run --release --locked -p gridctl -- demo --producers 10 --sources 2 --consumers 100 \
		--periods 48 --pace-ms 0 --ledger-faults 0.2 --storage-clients 8 --summary-json target/soak/summary.json

## The serverless soak, not part of `make test` (which runs a small one): the grid as
## deployed (three instances of the functions' handlers, over moto) trades 24 periods
## for 50 devices under the fault plan's weather (10 % throttles, 2 % lost answers, 5 %
## unprocessed batch items, 1 % server errors, 2 % transaction conflicts), SQS delivering
## again and out of order and a ledger failing 10 % of requests; its books must be a calm
## run's to the IOTA. Figures in target/soak-aws/figures.json (docs/reliability.md).
soak-aws: tools
	mkdir -p target/soak-aws
	SOAK_AWS=full SOAK_AWS_FIGURES=$(CURDIR)/target/soak-aws/figures.json \
		scripts/with-moto cargo test --locked -p grid-tests --test soak -- --nocapture

serve:
	cargo run --release -p gridctl -- serve --dev-ledger

## The seven functions as arm64 Lambda zips (target/lambda/<name>/bootstrap.zip), with sizes.
lambda: tools
	rustup target add aarch64-unknown-linux-gnu
	$(LAMBDA_BUILD) -p grid-functions
	@for zip in target/lambda/*/bootstrap.zip; do \
		printf '%-16s %8d bytes\n' "$$(basename "$$(dirname "$$zip")")" "$$(stat -c %s "$$zip")"; \
	done

clean-tools:
	rm -rf $(VENV)

## Fuzz every parser for FUZZ_SECONDS each (nightly toolchain; cargo-fuzz installed when missing).
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := envelope command ledger_statuses storage_path
.PHONY: fuzz
fuzz:
	@cargo fuzz --version >/dev/null 2>&1 || cargo install --locked cargo-fuzz@0.13.2
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		mkdir -p corpus/$$target; \
		cargo +nightly fuzz run $$target corpus/$$target seeds/$$target -- -max_total_time=$(FUZZ_SECONDS); \
	done
