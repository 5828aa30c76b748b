// SPDX-License-Identifier: GPL-2.0-only
#include <cstdio>
int main() { std::puts("flowagent " FA_VERSION); return 0; }
