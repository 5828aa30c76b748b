// SPDX-License-Identifier: GPL-2.0-only
// Placeholder until the core modules land (see the lead's staging copy).
#include <cstdio>
int main() { std::puts("flowagent " FA_VERSION); return 0; }
