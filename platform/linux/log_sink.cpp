// SPDX-License-Identifier: GPL-2.0-only
// placeholder, replaced by the platform work
namespace fa { int platform_placeholder() { return 0; } }
