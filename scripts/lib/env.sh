# Sourced by every script: where our tools live and which versions the PATH must find first.
export CASEDESK_TOOLS="${CASEDESK_TOOLS:-$HOME/.cache/casedesk-tools}"
export PATH="$CASEDESK_TOOLS/binaryen/bin:$HOME/.cargo/bin:$PATH"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
