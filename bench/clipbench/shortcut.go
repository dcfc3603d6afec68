package main

import "github.com/gocoop/gocoop/cocoop"

// setShortcut switches CoCoOp's exact text-tower shortcut in cfg: on (the
// default, cocoop.Config.FullPrompts false) the shared SOS + context prefix
// is computed once per image and no position after a class's EOT
// (clip.EncodeTextShared); off, every class prompt is assembled at the full
// 77 tokens for every image and run through the plain tower
// (clip.EncodeTextEmbeddings), as the official code and the PyTorch side do.
func setShortcut(cfg *cocoop.Config, on bool) { cfg.FullPrompts = !on }
