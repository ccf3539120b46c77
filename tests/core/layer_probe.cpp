// Built only by the test Layers.AnIncludeAcrossTheLayersDoesNotCompile (tests/core/CMakeLists.txt):
// a target that links fitting alone, including storage, which fitting may not use. It must not
// compile: only a library's own include root, and those of what it links, are on its include path.
#include "fitting/laws.hpp"
#include "storage/central.hpp"
