.PHONY: fuzz-cache

FUZZTIME ?= 30s

fuzz-cache: ## fuzz cache value decoding (FUZZTIME=30s each; corpus in cache/testdata/fuzz)
	go test -run XXX -fuzz ^FuzzValueDecoding$$ -fuzztime $(FUZZTIME) -parallel 1 ./cache/
	go test -run XXX -fuzz ^FuzzCodecUnmarshal$$ -fuzztime $(FUZZTIME) -parallel 1 ./cache/
