# Convenience wrapper around CMake/CTest.  Everything real lives in CMakeLists.txt.
#   make            build (build/)
#   make test       build and run the unit tests (ctest)
#   make demo       build, make the demo template grid + simulated DESI coadd, summarise
#   make asan       build with AddressSanitizer+UBSan (build-asan/) and run the tests
#   make valgrind   run the fast unit tests under valgrind memcheck
#   make cuda       configure with -DRVS_CUDA=ON and compile every CUDA source
JOBS ?= 2
BUILD ?= build
CMAKE_FLAGS ?=

.PHONY: all build test demo asan valgrind cuda clean

all: build

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ctest -j$(JOBS) --output-on-failure

demo: build
	scripts/demo $(BUILD)

asan:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRVS_SANITIZE=ON -DRVS_CUDA=OFF $(CMAKE_FLAGS)
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest -j$(JOBS) --output-on-failure -LE slow

valgrind: build
	scripts/run-valgrind $(BUILD)

cuda:
	cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRVS_CUDA=ON $(CMAKE_FLAGS)
	cmake --build build-cuda -j$(JOBS) --target rvs_cuda

clean:
	rm -rf build build-asan build-cuda
