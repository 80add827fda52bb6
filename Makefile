# The two commands a newcomer needs (see README.md).
.PHONY: demo test bench

demo:        ## set up, create a demo meeting on SQLite, and serve on 127.0.0.1:8000
	scripts/setup.sh
	.venv/bin/ballot demo $(if $(HOST),--host $(HOST))

test:        ## set up and run every test (SQLite and PostgreSQL, browser included)
	scripts/test.sh

bench:       ## load figures (3,000 voters; 3,000 slips; 100,000 names sorted; 20 screens; signed archive; paper entry; crashes and a full disk; an adversary; a close against history)
	.venv/bin/python bench/cast.py
	.venv/bin/python bench/slips.py
	.venv/bin/python bench/strokes.py
	.venv/bin/python bench/screen.py
	.venv/bin/python bench/archive.py
	.venv/bin/python bench/paper.py
	.venv/bin/python bench/faults.py
	.venv/bin/python bench/abuse.py
	.venv/bin/python bench/close.py
