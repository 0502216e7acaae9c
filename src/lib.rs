pub mod backup_repo;
