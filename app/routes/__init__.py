"""One APIRouter per file: pages, api, health, ws."""
