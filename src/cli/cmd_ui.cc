// sluice ui: the web UI and REST API (docs/ui.md).

#include <signal.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "cli/cli.h"
#include "common/error.h"
#include "server/ui_server.h"

namespace sluice::cli {
namespace {

std::atomic<int> ui_signals{0};
void OnUiSignal(int) { ui_signals.fetch_add(1); }

int CmdUi(Args& a) {
  server::UiOptions o;
  o.paths = a.positional;
  o.vars = ParseVars(a);
  o.listen = a.Get("listen", "127.0.0.1:8080");
  o.token_file = a.Get("token-file");
  struct sigaction sa {};
  sa.sa_handler = OnUiSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  server::UiServer ui(o);
  std::cout << "sluice ui: serving " << ui.url() << " (Ctrl-C stops)" << std::endl;
  while (ui_signals.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::cout << "sluice ui: stopped" << std::endl;
  return 0;
}

}  // namespace

Command UiCommand() {
  return {"ui",
          "serve the web UI and REST API for pipeline files (see docs/ui.md)",
          "sluice ui PIPELINES_FOLDER_OR_FILE... [--listen HOST:PORT] [--token-file FILE]",
          WithPipelineFlags(
              {{"listen", true, "the address to serve on (default 127.0.0.1:8080)"},
               {"token-file", true,
                "a file (mode 0600) holding the token that clients must send; needed to listen "
                "beyond this machine"}}),
          "  sluice ui pipelines/\n"
          "  sluice ui examples/citizens/pipeline.yaml --listen 127.0.0.1:9000\n"
          "  sluice ui pipelines/ --listen 0.0.0.0:8080 --token-file /etc/sluice/ui.token\n",
          1,
          1000,
          CmdUi};
}

}  // namespace sluice::cli
